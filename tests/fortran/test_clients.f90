!> What real clients (athena, diffstruc's own tests) do with array_type that our other tests did
!> not: the patterns of the real-clients issue, each checked for values, gradients and memory.
!>
!>  * derived types holding array_type copied by the compiler: function results assigned to a
!>    variable, `allocate(source=)` + `move_alloc` (a network's `add`), array assignment of
!>    allocatable arrays of such types, copies used after their original is gone, copies changed
!>    without changing the original;
!>  * `set_requires_grad` in `do concurrent`, `set` on a component inside a pure procedure;
!>  * `allocated(x%val)` and `deallocate(x%val)`;
!>  * a copy with other flags (`y = x; y%set_requires_grad(.false.)`) not changing `x`'s
!>    gradient; `y = y`;
!>  * an extension of array_type as a custom result (its own components read by its rules) and
!>    as the source of `assign_shallow`;
!>  * `create_result` results in reverse mode; `[0, 0]` placeholders; operand `indices` inside
!>    rules; `id` set after the graph is built; `duplicate_graph` keeping the values of the time;
!>    operation names after `nullify_graph` and rule pointers on built-in results;
!>  * an operation result assigned to (`f => x*2; f = y`) stays releasable by `deallocate(f)`.
module client_types
  use diffstruc
  implicit none
  private
  public :: layer_t, holder_t, scaled_array, new_layer, add_layer, layer_forward, set_input
  public :: scaled, picked

  !> A layer: parameters and an output, as athena's layers hold them.
  type :: layer_t
     type(array_type), dimension(:), allocatable :: params
     type(array_type), dimension(1, 1) :: output
     character(len=:), allocatable :: name
  end type layer_t

  !> A polymorphic holder, as athena's network holds its layers.
  type :: holder_t
     class(layer_t), allocatable :: layer
  end type holder_t

  !> An extension of array_type whose custom rules read its own component.
  type, extends(array_type) :: scaled_array
     real(real32) :: factor = 1.0
  end type scaled_array

contains

  !> A layer by function result (the program assigns it: a compiler copy).
  function new_layer(n, w, b) result(layer)
    integer, intent(in) :: n
    real(real32), intent(in) :: w, b
    type(layer_t) :: layer
    allocate(layer%params(2))
    call layer%params(1)%allocate([n, 1], source=w)
    call layer%params(2)%allocate([n, 1], source=b)
    call layer%params(1)%set_requires_grad(.true.)
    call layer%params(2)%set_requires_grad(.true.)
    layer%params(1)%is_temporary = .false.
    layer%params(2)%is_temporary = .false.
    layer%name = 'dense'
  end function new_layer

  !> athena's `network%add`: the layers are copied into a longer array (`allocate(source=)`),
  !> which replaces the old one (`move_alloc`).
  subroutine add_layer(model, layer)
    type(holder_t), dimension(:), allocatable, intent(inout) :: model
    class(layer_t), intent(in) :: layer
    type(holder_t), dimension(:), allocatable :: longer
    integer :: i, n
    n = 0
    if (allocated(model)) n = size(model)
    allocate(longer(n + 1))
    do i = 1, n
       allocate(longer(i)%layer, source=model(i)%layer)
    end do
    allocate(longer(n + 1)%layer, source=layer)
    call move_alloc(longer, model)
  end subroutine add_layer

  !> output = tanh(w * x + b), kept in the layer (assign_and_deallocate_source, as athena).
  subroutine layer_forward(layer, x)
    class(layer_t), intent(inout) :: layer
    type(array_type), intent(in), target :: x
    type(array_type), pointer :: p
    p => tanh(layer%params(1) * x + layer%params(2))
    call layer%output(1, 1)%assign_and_deallocate_source(p)
    layer%output(1, 1)%is_temporary = .false.
  end subroutine layer_forward

  !> athena's input layer: values set on a component inside a pure procedure.
  pure subroutine set_input(layer, values)
    type(layer_t), intent(inout) :: layer
    real(real32), dimension(:), intent(in) :: values
    call layer%output(1, 1)%set(values)
    layer%output(1, 1)%is_temporary = .false.
  end subroutine set_input

  !> factor * a, a custom result of the extension type (allocated by the caller's code, as
  !> athena's batch normalisation does), its rules reading `factor` from `this`.
  function scaled(a, factor) result(r)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: factor
    type(scaled_array), pointer :: r
    allocate(r)
    call r%allocate(array_shape=[a%shape, size(a%val, 2)])
    r%factor = factor
    r%val = factor * a%val
    r%get_partial_left => scaled_partial
    r%get_partial_left_val => scaled_partial_val
    if (a%requires_grad) then
       r%requires_grad = .true.
       r%is_forward = a%is_forward
       r%operation = 'scaled'
       r%left_operand => a
       r%owns_left_operand = a%is_temporary
    end if
  end function scaled

  function scaled_partial(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: p
    select type (this)
    type is (scaled_array)
       p => upstream_grad * this%factor
    class default
       error stop 'scaled_partial: this is not a scaled_array'
    end select
    call output%assign_and_deallocate_source(p)
  end function scaled_partial

  pure subroutine scaled_partial_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    select type (this)
    type is (scaled_array)
       output = upstream_grad * this%factor
    class default
       output = -huge(1.0_real32)
    end select
  end subroutine scaled_partial_val

  !> The elements of `a` listed in the result's `indices` (a gather whose rule reads the
  !> indices from its operand, as athena's message passing does): r(i) = a(indices(i)).
  function picked(a, indices) result(r)
    class(array_type), intent(in), target :: a
    integer, dimension(:), intent(in) :: indices
    type(array_type), pointer :: r
    r => a%create_result(array_shape=[size(indices), size(a%val, 2)])
    r%val = a%val(indices, :)
    r%indices = indices
    r%get_partial_left_val => picked_partial_val
    r%get_partial_left => picked_partial
    if (a%requires_grad) then
       r%requires_grad = .true.
       r%operation = 'picked'
       r%left_operand => a
       r%owns_left_operand = a%is_temporary
    end if
  end function picked

  pure subroutine picked_partial_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    integer :: i
    output = 0.0
    do i = 1, size(this%indices)
       output(this%indices(i), :) = output(this%indices(i), :) + upstream_grad(i, :)
    end do
  end subroutine picked_partial_val

  function picked_partial(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    ! not used by these tests (reverse mode only)
    output = upstream_grad
    error stop 'picked_partial: forward mode is not used here'
  end function picked_partial

end module client_types

program test_clients
  use, intrinsic :: iso_fortran_env, only: compiler_version
  use diffstruc
  use client_types
  use test_utils
  implicit none
  integer :: live0

  live0 = diffstruc_live_arrays()
  call test_layer_copies()
  call test_network_copies()
  call test_pure_and_concurrent()
  call test_val_allocatable()
  call test_stale_flags()
  call test_extension_custom()
  call test_extension_assign_shallow()
  call test_create_result_reverse()
  call test_placeholders()
  call test_indices_in_rules()
  call test_id_after_build()
  call test_duplicate_snapshot()
  call test_names_after_nullify()
  call test_assign_to_result()
  call test_named_temporary()
  call test_flat_loops()
  call diffstruc_release_retired()
  ! (gfortran 12: up to the four arrays of test_layer_copies' unfinalised function result, whose
  ! bindings are dropped when their tokens' addresses are used again)
  call check(diffstruc_live_arrays() >= live0 .and. diffstruc_live_arrays() <= &
       live0 + merge(0, 4, result_components_finalised()), 'every array released')
  call finish()

contains

  !> d/dw and d/db of sum(tanh(w*x + b)) at one element: (1 - t**2) * x and (1 - t**2).
  subroutine check_layer_grads(layer, x, w, b, message)
    type(layer_t), intent(in) :: layer
    real(real32), intent(in) :: x, w, b
    character(len=*), intent(in) :: message
    real(real32) :: t
    t = tanh(w * x + b)
    call check(associated(layer%params(1)%grad), message // ': w has a gradient')
    call check(associated(layer%params(2)%grad), message // ': b has a gradient')
    if (.not. (associated(layer%params(1)%grad) .and. associated(layer%params(2)%grad))) return
    call check_close(flat(layer%params(1)%grad%val), spread((1 - t**2) * x, 1, 3), 1e-5, &
         message // ': dw')
    call check_close(flat(layer%params(2)%grad%val), spread(1 - t**2, 1, 3), 1e-5, &
         message // ': db')
  end subroutine check_layer_grads

  !> A layer from a function result, copied again by assignment; the copies differentiate on
  !> their own, a changed copy leaves the original alone, and either survives the other.
  subroutine test_layer_copies()
    type(layer_t) :: a, b
    type(layer_t), allocatable :: c
    type(array_type) :: x
    type(array_type), pointer :: f
    integer :: live
    live = diffstruc_live_arrays()
    call x%allocate([3, 1], source=0.5)
    x%is_temporary = .false.
    a = new_layer(3, 2.0, 0.1)
    b = a
    b%params(1)%val = 3.0
    call layer_forward(a, x)
    f => sum(a%output(1, 1), dim=1)
    call f%grad_reverse()
    call check_layer_grads(a, 0.5, 2.0, 0.1, 'function result copy')
    call release(f)
    ! (gfortran 12 copies b = a's components raw: b's unchanged bias then stands for a's, with
    ! its gradient, as diffstruc's raw copy shares its grad pointer)
    call b%params(1)%zero_grad()
    call b%params(2)%zero_grad()
    call layer_forward(b, x)
    f => sum(b%output(1, 1), dim=1)
    call f%grad_reverse()
    call check_layer_grads(b, 0.5, 3.0, 0.1, 'changed copy')
    call check_close(flat(a%params(1)%val), [2.0, 2.0, 2.0], 0.0, 'original kept its values')
    call release(f)
    ! a copy outlives its original
    allocate(c, source=a)
    call destroy_layer(a)
    call c%params(1)%zero_grad()
    call c%params(2)%zero_grad()
    call layer_forward(c, x)
    f => sum(c%output(1, 1), dim=1)
    call f%grad_reverse()
    call check_layer_grads(c, 0.5, 2.0, 0.1, 'copy after its original is gone')
    call release(f)
    call destroy_layer(b)
    call destroy_layer(c)
    deallocate(c)
    call x%deallocate()
    if (result_components_finalised()) then
       call check(diffstruc_live_arrays() == live, 'layer copies: memory returned')
    else
       ! gfortran 12 frees the components of new_layer's result without finalising them
       ! (fixed in GCC 13): the result's two parameter arrays (and their gradients: the copies
       ! used them) stay until their tokens' addresses are used again
       call check(diffstruc_live_arrays() >= live .and. diffstruc_live_arrays() <= live + 4, &
            'layer copies: memory returned')
    end if
  end subroutine test_layer_copies

  !> False for gfortran before 13, which does not finalise function results (nor, then, the
  !> tokens inside their array_type components).
  logical function result_components_finalised()
    character(len=:), allocatable :: v
    integer :: at, major
    v = compiler_version()
    result_components_finalised = .true.
    at = index(v, 'GCC version ')
    if (at == 0) return
    at = at + 12
    major = 0
    do while (at <= len(v))
       if (index('0123456789', v(at:at)) == 0) exit
       major = 10 * major + index('0123456789', v(at:at)) - 1
       at = at + 1
    end do
    result_components_finalised = major >= 13
  end function result_components_finalised

  subroutine destroy_layer(layer)
    type(layer_t), intent(inout) :: layer
    integer :: i
    do i = 1, size(layer%params)
       call layer%params(i)%deallocate()
    end do
    call layer%output(1, 1)%nullify_graph()
    call layer%output(1, 1)%deallocate()
  end subroutine destroy_layer

  !> Layers added to a network one by one (allocate(source=) and move_alloc each time), the
  !> network copied by array assignment, then trained through both.
  subroutine test_network_copies()
    type(holder_t), dimension(:), allocatable :: model, twin
    type(array_type) :: x
    type(array_type), pointer :: f
    integer :: i, live
    live = diffstruc_live_arrays()
    call x%allocate([3, 1], source=0.5)
    x%is_temporary = .false.
    do i = 1, 3
       call add_layer(model, new_layer(3, real(i), 0.1))
    end do
    twin = model
    twin(2)%layer%params(1)%val = 7.0
    do i = 1, 3
       call layer_forward(model(i)%layer, x)
       f => sum(model(i)%layer%output(1, 1), dim=1)
       call f%grad_reverse()
       call check_layer_grads(model(i)%layer, 0.5, real(i), 0.1, 'network layer')
       call release(f)
    end do
    call layer_forward(twin(2)%layer, x)
    f => sum(twin(2)%layer%output(1, 1), dim=1)
    call f%grad_reverse()
    call check_layer_grads(twin(2)%layer, 0.5, 7.0, 0.1, 'copied network, changed layer')
    call release(f)
    do i = 1, 3
       call destroy_layer(model(i)%layer)
    end do
    deallocate(model)
    ! the copy works on after the original network is gone
    call twin(1)%layer%params(1)%zero_grad()
    call twin(1)%layer%params(2)%zero_grad()
    call layer_forward(twin(1)%layer, x)
    f => sum(twin(1)%layer%output(1, 1), dim=1)
    call f%grad_reverse()
    call check_layer_grads(twin(1)%layer, 0.5, 1.0, 0.1, 'copied network after the original')
    call release(f)
    do i = 1, 3
       call destroy_layer(twin(i)%layer)
    end do
    deallocate(twin)
    call x%deallocate()
    call check(diffstruc_live_arrays() == live, 'network copies: memory returned')
  end subroutine test_network_copies

  !> `set_requires_grad` inside `do concurrent`; `set` on a component in a pure procedure.
  subroutine test_pure_and_concurrent()
    type(array_type), dimension(4) :: xs
    type(layer_t) :: layer
    type(array_type), pointer :: f
    integer :: i
    do i = 1, 4
       call xs(i)%allocate([2, 1], source=real(i))
    end do
    do concurrent (i = 1:4)
       call xs(i)%set_requires_grad(.true.)
    end do
    call check(all(xs%requires_grad), 'do concurrent: requires_grad set')
    f => xs(1) * xs(2) + xs(3) * xs(4)
    call f%grad_reverse()
    call check_close(flat(xs(1)%grad%val), [2.0, 2.0], 0.0, 'do concurrent: gradient')
    call check_close(flat(xs(4)%grad%val), [3.0, 3.0], 0.0, 'do concurrent: gradient 4')
    call release(f)
    call layer%output(1, 1)%allocate([3, 1])
    call set_input(layer, [1.0, 2.0, 3.0])
    call check_close(flat(layer%output(1, 1)%val), [1.0, 2.0, 3.0], 0.0, 'pure set')
    f => layer%output(1, 1) * 2.0
    call check_close(flat(f%val), [2.0, 4.0, 6.0], 0.0, 'pure set: used by an operation')
    call release(f)
    do i = 1, 4
       call xs(i)%deallocate()
    end do
    call layer%output(1, 1)%deallocate()
  end subroutine test_pure_and_concurrent

  !> `allocated(x%val)` and `deallocate(x%val)` on variables and on results.
  subroutine test_val_allocatable()
    type(array_type) :: x
    type(array_type), pointer :: f
    integer :: stat
    call check(.not. allocated(x%val), 'allocated(val): not before allocate')
    call x%allocate([2, 1], source=1.5)
    call check(allocated(x%val), 'allocated(val): after allocate')
    f => x * 2.0
    call check(allocated(f%val), 'allocated(val): on a result')
    deallocate(f%val)
    call check(.not. allocated(f%val), 'deallocate(val) on a result')
    deallocate(f)
    deallocate(x%val)
    call check(.not. allocated(x%val), 'deallocate(val) on a variable')
    ! as with diffstruc, the object still counts as allocated until x%deallocate()
    call x%allocate([3, 1], source=2.0, stat=stat)
    call check(stat /= 0, 'allocate refused until deallocate, as diffstruc does')
    call x%deallocate()
    call x%allocate([3, 1], source=2.0)
    call check_close(flat(x%val), [2.0, 2.0, 2.0], 0.0, 'allocate again after deallocate(val)')
    call x%deallocate()
  end subroutine test_val_allocatable

  !> A copy with other flags never changes what its original contributes.
  subroutine test_stale_flags()
    type(array_type) :: x, y
    type(array_type), pointer :: f
    call new_variable(x, [3.0, 3.0], .true.)
    y = x
    call y%set_requires_grad(.false.)
    f => x * x + y
    call f%grad_reverse()
    call check_close(flat(x%grad%val), [6.0, 6.0], 0.0, 'stale copy flags: x%grad = 2x')
    call check(.not. associated(y%grad) .or. .not. y%requires_grad, &
         'stale copy flags: the copy needs no gradient')
    call release(f)
    ! y = y changes nothing
    y = y
    call check_close(flat(y%val), [3.0, 3.0], 0.0, 'self assignment keeps the values')
    call x%deallocate()
    call y%deallocate()
  end subroutine test_stale_flags

  !> An extension of array_type as a custom result: its rules see it as its own type.
  subroutine test_extension_custom()
    type(array_type) :: x
    type(array_type), pointer :: f, df
    type(scaled_array), pointer :: s
    call new_variable(x, [1.0, 2.0], .true.)
    s => scaled(x, 3.0)
    f => sum(s * x, dim=1)
    call f%grad_reverse()
    ! f = 3 x . x: df/dx = 6x
    call check_close(flat(x%grad%val), [6.0, 12.0], 1e-6, 'extension result: reverse mode')
    call release(f)
    call x%zero_grad()
    s => scaled(x, 5.0)
    df => s%grad_forward(x)
    call check_close(flat(df%val), [5.0, 5.0], 1e-6, 'extension result: forward mode')
    call release(df)
    call release_scaled(s)
    call x%deallocate()
  end subroutine test_extension_custom

  subroutine release_scaled(s)
    type(scaled_array), pointer, intent(inout) :: s
    call s%nullify_graph()
    deallocate(s)
  end subroutine release_scaled

  !> assign_shallow from an extension of array_type (athena's batch normalisation output).
  subroutine test_extension_assign_shallow()
    type(array_type) :: x
    type(scaled_array) :: out
    type(scaled_array), pointer :: s
    type(array_type), pointer :: f
    call new_variable(x, [1.0, 2.0], .true.)
    s => scaled(x, 2.0)
    call out%assign_shallow(s)
    out%factor = s%factor
    deallocate(s)
    out%is_temporary = .false.
    call check_close(flat(out%val), [2.0, 4.0], 0.0, 'assign_shallow from an extension')
    f => sum(out, dim=1)
    call f%grad_reverse()
    call check_close(flat(x%grad%val), [2.0, 2.0], 1e-6, 'assign_shallow: gradient flows')
    call release(f)
    call out%nullify_graph()
    call out%deallocate()
    call x%deallocate()
  end subroutine test_extension_assign_shallow

  !> Reverse mode from (and through) a create_result result: the seed is ones, not a zero
  !> gradient object.
  subroutine test_create_result_reverse()
    type(array_type) :: x
    type(array_type), pointer :: p
    call new_variable(x, [1.0, 2.0, 3.0], .true.)
    p => picked(x, [3, 1])
    call p%grad_reverse()
    call check_close(flat(x%grad%val), [1.0, 0.0, 1.0], 0.0, 'create_result root: reverse')
    call release(p)
    call x%deallocate()
  end subroutine test_create_result_reverse

  !> `[0, 0]` placeholders, as athena allocates before reading a layer from a file.
  subroutine test_placeholders()
    type(array_type) :: x
    call x%allocate([0, 0])
    call check(allocated(x%val), 'placeholder allocated')
    call check(size(x%val) == 0, 'placeholder empty')
    call x%deallocate()
    call x%allocate([2, 1], source=1.0)
    call check_close(flat(x%val), [1.0, 1.0], 0.0, 'placeholder replaced')
    call x%deallocate()
  end subroutine test_placeholders

  !> A rule reads its operand's `indices` (set on the result when it was built).
  subroutine test_indices_in_rules()
    type(array_type) :: x
    type(array_type), pointer :: p, f
    call new_variable(x, [1.0, 2.0, 3.0, 4.0], .true.)
    p => picked(x, [2, 2, 4])
    f => sum(p * p, dim=1)
    call f%grad_reverse()
    ! f = 2 x2**2 + x4**2: df/dx = [0, 4 x2, 0, 2 x4]
    call check_close(flat(x%grad%val), [0.0, 8.0, 0.0, 8.0], 1e-6, 'indices inside a rule')
    call release(f)
    call x%deallocate()
  end subroutine test_indices_in_rules

  !> An id given to a node after the graph is built is found by get_ptr_from_id.
  subroutine test_id_after_build()
    type(array_type) :: x
    type(array_type), pointer :: s, f, p
    call new_variable(x, [1.0, 2.0], .true.)
    s => x * 2.0
    s%is_temporary = .false.
    f => s + x
    s%id = 42
    p => f%get_ptr_from_id(42)
    call check(associated(p), 'id set after build: found')
    if (associated(p)) call check_close(flat(p%val), [2.0, 4.0], 0.0, 'id set after build: node')
    call release(f)
    call release(s)
    call x%deallocate()
  end subroutine test_id_after_build

  !> duplicate_graph keeps the values leaves had when it was taken (training through time:
  !> the input of the next step is written into the same variable and used again).
  subroutine test_duplicate_snapshot()
    type(array_type) :: w, x
    type(array_type), pointer :: f, f2, g1
    call new_variable(w, [1.0], .true.)
    ! a parameter, as athena's recurrent layer marks it: shared by the copies, not copied
    w%fix_pointer = .true.
    call new_variable(x, [1.0], .false.)
    f => w * x
    f%is_temporary = .false.
    g1 => f%duplicate_graph()
    x%val = 2.0
    f2 => w * x
    ! (reverse mode zeroes a fix_pointer array's gradient first, as diffstruc does)
    call g1%grad_reverse()
    call check_close(flat(w%grad%val), [1.0], 1e-6, 'duplicate_graph snapshots leaf values')
    call f2%grad_reverse()
    call check_close(flat(w%grad%val), [2.0], 1e-6, 'the next step sees the new input')
    call release(g1)
    call release(f2)
    call release(f)
    call w%deallocate()
    call x%deallocate()
  end subroutine test_duplicate_snapshot

  !> After nullify_graph a result still says what it was; built-in results carry rule
  !> pointers, as diffstruc's do.
  subroutine test_names_after_nullify()
    type(array_type) :: x
    type(array_type), pointer :: f
    real(real32) :: dv(2, 1)
    type(array_type) :: up, d
    call new_variable(x, [1.0, 2.0], .true.)
    f => x * x
    call check(associated(f%get_partial_left) .and. associated(f%get_partial_left_val) .and. &
         associated(f%get_partial_right) .and. associated(f%get_partial_right_val), &
         'built-in result: rule pointers associated')
    ! d(x*y)/dx with upstream u is u*y (here y = x = [1, 2], u = [1, 3])
    call f%get_partial_left_val(reshape([1.0, 3.0], [2, 1]), dv)
    call check_close(flat(dv), [1.0, 6.0], 0.0, 'built-in rule: get_partial_left_val')
    call up%allocate([2, 1], source=reshape([1.0, 3.0], [2, 1]))
    d = f%get_partial_right(up)
    call check_close(flat(d%val), [1.0, 6.0], 0.0, 'built-in rule: get_partial_right')
    call up%deallocate()
    call d%deallocate()
    call f%nullify_graph()
    call check(trim(f%operation) == 'multiply', 'operation kept after nullify_graph: ' // &
         trim(f%operation))
    deallocate(f)
    call x%deallocate()
  end subroutine test_names_after_nullify

  !> An operation result assigned to keeps being this library's object: released once by
  !> deallocate, whatever was assigned.
  subroutine test_assign_to_result()
    type(array_type) :: x, y
    type(array_type), pointer :: f
    integer :: live
    live = diffstruc_live_arrays()
    call new_variable(x, [1.0, 2.0], .true.)
    call new_variable(y, [5.0, 6.0], .false.)
    f => x * 2.0
    f = y
    call check_close(flat(f%val), [5.0, 6.0], 0.0, 'assignment to a result: values')
    f = x * 3.0
    call check_close(flat(f%val), [3.0, 6.0], 0.0, 'assignment of a result to a result')
    call f%grad_reverse()
    call check_close(flat(x%grad%val), [3.0, 3.0], 0.0, 'assigned result: gradient')
    call f%nullify_graph()
    deallocate(f)
    call x%deallocate()
    call y%deallocate()
    call check(diffstruc_live_arrays() > live, 'assignment to a result: x*3.0 kept a while')
    call diffstruc_release_retired()
    call check(diffstruc_live_arrays() == live, 'assignment to a result: memory returned')
  end subroutine test_assign_to_result

  !> A named temporary released by its consumer and then by the program (diffstruc: a double
  !> free), in both orders.
  subroutine test_named_temporary()
    type(array_type) :: x
    type(array_type), pointer :: t, f
    integer :: live
    live = diffstruc_live_arrays()
    call new_variable(x, [1.0, 2.0], .true.)
    t => x * 2.0
    f => t + 1.0
    call f%grad_reverse()
    call check_close(flat(x%grad%val), [2.0, 2.0], 0.0, 'named temporary: gradient')
    call f%nullify_graph()
    deallocate(f)
    deallocate(t)
    t => x * 2.0
    f => t + 1.0
    deallocate(t)
    call check_close(flat(f%val), [3.0, 5.0], 0.0, 'named temporary released first: values')
    call f%nullify_graph()
    deallocate(f)
    call x%deallocate()
    call check(diffstruc_live_arrays() == live, 'named temporary: memory returned')
  end subroutine test_named_temporary

  !> The loops diffstruc's guide recommends stay flat in memory: `x = x + delta` (in-place
  !> update) and `y = x*2`, 2*10^4 times each (retired right sides are released as they go;
  !> the peak is what shows it: it does not depend on the count).
  subroutine test_flat_loops()
    type(array_type) :: x, delta, y
    integer :: i, live, peak
    live = diffstruc_live_arrays()
    call x%allocate([4, 1], source=0.0)
    call delta%allocate([4, 1], source=1.0)
    x%is_temporary = .false.
    delta%is_temporary = .false.
    peak = 0
    do i = 1, 20000
       x = x + delta
       y = x * 2.0
       peak = max(peak, diffstruc_live_arrays() - live)
    end do
    call check_close(flat(x%val), spread(20000.0, 1, 4), 0.0, 'x = x + delta: value')
    call check_close(flat(y%val), spread(40000.0, 1, 4), 0.0, 'y = x*2: value')
    call check(peak < 100, 'loops stay flat: at most ' // int_str(peak) // ' arrays at once')
    call x%deallocate()
    call delta%deallocate()
    call y%deallocate()
    call diffstruc_release_retired()
    call check(diffstruc_live_arrays() == live, 'loops: memory returned')
  end subroutine test_flat_loops

end program test_clients
