!> Lifecycle and data access of `array_type`: every `allocate` form, `val` aliasing the core's
!> values, `set`/`extract` of ranks 1 to 3, `flatten`, the `shape`/`size`/`allocated`
!> components, the `array_type()` constructor, `operation` names, `print_graph`, value
!> assignment of a result (`v = p` with `p => x*y`) and `assign_and_deallocate_source`.
program test_basics
  use diffstruc
  use test_utils
  implicit none

  integer :: live0

  live0 = diffstruc_live_arrays()

  call test_allocate_forms()
  call test_val_aliases_core()
  call test_set_extract()
  call test_flatten_and_components()
  call test_operation_names()
  call test_print_graph()
  call test_value_assignment()
  call test_assign_and_deallocate_source()
  call check(diffstruc_live_arrays() == live0, 'live arrays back to start')

  ! Last: gfortran 12 finalises the function result of `array_type()` as a null object, and
  ! with the module itself compiled with -fcheck=all the check in gfortran's finalisation
  ! wrapper stops the program there; `extract` into rank-1 and rank-2 arrays needed an explicit
  ! allocation for gfortran 12 (fixed in b01da10).
  call test_constructor()
  call test_extract_rank1_rank2()
  call check(diffstruc_live_arrays() == live0, 'live arrays back to start at the end')
  call finish()

contains

  subroutine test_allocate_forms()
    type(array_type) :: a, b, c, d, g, k
    real(real32) :: m(3, 2)
    integer :: live

    live = diffstruc_live_arrays()
    ! shape + scalar source: [d1, d2, batch]
    call a%allocate([2, 3, 4], source=1.5)
    call check(a%allocated, 'allocate(shape, source): allocated')
    call check(allocated(a%shape), 'allocate(shape, source): shape allocated')
    call check(size(a%shape) == 2, 'allocate([2,3,4]): two per-sample dimensions')
    if (size(a%shape) == 2) call check(all(a%shape == [2, 3]), 'allocate([2,3,4]): shape [2,3]')
    call check(a%size == 6, 'allocate([2,3,4]): size 6')
    call check(all(shape(a%val) == [6, 4]), 'allocate([2,3,4]): val is (6,4)')
    call check(all(a%val == 1.5), 'allocate(source=1.5): filled')
    call check(a%rank == 1, 'allocate: rank component is 1')
    call check(diffstruc_live_arrays() == live + 1, 'allocate: one live array')

    ! shape only, then values through set
    call b%allocate([4, 1])
    call check(all(shape(b%val) == [4, 1]), 'allocate([4,1]): val is (4,1)')
    call b%set([1.0, 2.0, 3.0, 4.0])
    call check_close(b%val(:, 1), [1.0, 2.0, 3.0, 4.0], 0.0, 'allocate([4,1]) + set')

    ! rank-2 source without shape: shape = [rows], batch = columns
    m = reshape([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2])
    call c%allocate(source=m)
    call check(all(shape(c%val) == [3, 2]), 'allocate(source=r2): val is (3,2)')
    call check(size(c%shape) == 1, 'allocate(source=r2): one per-sample dimension')
    if (size(c%shape) == 1) call check(c%shape(1) == 3, 'allocate(source=r2): shape [3]')
    call check_close(flat(c%val), flat(m), 0.0, 'allocate(source=r2): values')
    ! rank-2 source with a matching shape
    call d%allocate([3, 2], source=m)
    call check_close(flat(d%val), flat(m), 0.0, 'allocate([3,2], source=r2): values')

    ! one-entry shape [S]: empty per-sample shape, one element per sample
    call g%allocate([3], source=2.5)
    call check(allocated(g%shape), 'allocate([3]): shape allocated')
    call check(size(g%shape) == 0, 'allocate([3]): empty per-sample shape')
    call check(g%size == 1, 'allocate([3]): size 1')
    call check(all(shape(g%val) == [1, 3]), 'allocate([3]): val is (1,3)')
    call check(all(g%val == 2.5), 'allocate([3], source=2.5): filled')

    ! array_type source
    call k%allocate(source=c)
    call check(k%allocated, 'allocate(source=array): allocated')
    call check(all(shape(k%val) == [3, 2]), 'allocate(source=array): extents')
    call check_close(flat(k%val), flat(m), 0.0, 'allocate(source=array): values')
    if (allocated(k%shape)) call check(all(k%shape == [3]), 'allocate(source=array): shape')

    call a%deallocate()
    call check(.not. a%allocated, 'deallocate: allocated is false')
    call check(a%size == 0, 'deallocate: size 0')
    call check(.not. allocated(a%val), 'deallocate: val gone')
    call check(.not. allocated(a%shape), 'deallocate: shape deallocated')
    ! deallocate(keep_shape=.true.) keeps the shape
    call b%deallocate(keep_shape=.true.)
    call check(allocated(b%shape), 'deallocate(keep_shape): shape kept')
    if (allocated(b%shape)) call check(all(b%shape == [4]), 'deallocate(keep_shape): shape value')
    ! an array can be allocated again after deallocate
    call a%allocate([2, 1], source=-1.0)
    call check(all(a%val == -1.0) .and. all(shape(a%val) == [2, 1]), 'allocate after deallocate')
    call a%deallocate()
    ! deallocate twice is harmless
    call a%deallocate()
    call c%deallocate()
    call d%deallocate()
    call g%deallocate()
    call k%deallocate()
    call check(diffstruc_live_arrays() == live, 'allocate forms: memory returned')
  end subroutine test_allocate_forms

  !> `val` is the core's buffer: writes through it are what operations read, and results are
  !> visible through it.
  subroutine test_val_aliases_core()
    type(array_type) :: a
    type(array_type), pointer :: f
    call a%allocate([3, 1])
    a%val(:, 1) = [1.0, 2.0, 3.0]
    a%is_temporary = .false.
    f => a * 2.0
    call check_close(f%val(:, 1), [2.0, 4.0, 6.0], 0.0, 'val write before an operation')
    call release(f)
    a%val(2, 1) = 10.0
    f => a + 1.0
    call check_close(f%val(:, 1), [2.0, 11.0, 4.0], 0.0, 'val element write visible')
    call release(f)
    ! writes through set are visible too
    call a%set([-1.0, -2.0, -3.0])
    f => a * a
    call check_close(f%val(:, 1), [1.0, 4.0, 9.0], 0.0, 'set visible to operations')
    call release(f)
    ! a gradient written through grad%val is read back
    call a%set_requires_grad(.true.)
    call check(.not. associated(a%grad), 'set_requires_grad alone makes no grad (pure)')
    f => a * 1.0
    call release(f)
    call check(associated(a%grad), 'a variable that requires a gradient has grad once used')
    if (associated(a%grad)) then
       a%grad%val(:, 1) = [7.0, 8.0, 9.0]
       call check_close(a%grad%val(:, 1), [7.0, 8.0, 9.0], 0.0, 'grad%val writable')
       call a%zero_grad()
       call check(all(a%grad%val == 0.0), 'zero_grad clears what was written')
    end if
    call a%deallocate()
  end subroutine test_val_aliases_core

  subroutine test_set_extract()
    type(array_type) :: a, b, c
    real(real32) :: in2(2, 3), in3(2, 3, 2)
    real(real32), allocatable :: out3(:,:,:)
    integer :: i
    ! rank 1: first sample
    call a%allocate([3, 1])
    call a%set([4.0, 5.0, 6.0])
    call check_close(a%val(:, 1), [4.0, 5.0, 6.0], 0.0, 'set rank 1')
    ! rank 2: (E, S)
    in2 = reshape([(real(i), i = 1, 6)], [2, 3])
    call b%allocate([2, 3])
    call b%set(in2)
    call check_close(flat(b%val), flat(in2), 0.0, 'set rank 2')
    ! rank 3: per-sample shape [2,3], batch 2
    in3 = reshape([(real(i) * 0.5, i = 1, 12)], [2, 3, 2])
    call c%allocate([2, 3, 2])
    call c%set(in3)
    call check(all(shape(c%val) == [6, 2]), 'set rank 3: val extents')
    call check_close(c%val(:, 1), reshape(in3(:, :, 1), [6]), 0.0, 'set rank 3: sample 1')
    call check_close(c%val(:, 2), reshape(in3(:, :, 2), [6]), 0.0, 'set rank 3: sample 2')
    ! extract rank 3: (shape(1), shape(2), S)
    call c%extract(out3)
    call check(allocated(out3), 'extract rank 3: allocated')
    if (allocated(out3)) then
       call check(all(shape(out3) == [2, 3, 2]), 'extract rank 3: shape')
       if (all(shape(out3) == [2, 3, 2])) &
            call check(all(out3 == in3), 'extract rank 3: values')
    end if
    call a%deallocate()
    call b%deallocate()
    call c%deallocate()
  end subroutine test_set_extract

  subroutine test_flatten_and_components()
    type(array_type) :: a
    real(real32) :: v(4)
    call a%allocate([2, 2, 3])
    a%val = reshape([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0], [4, 3])
    call check(size(a%flatten()) == 4, 'flatten: size(shape) values')
    if (size(a%flatten()) == 4) then
       v = a%flatten()
       call check_close(v, [1.0, 2.0, 3.0, 4.0], 0.0, 'flatten: first sample')
    end if
    call check(all(a%shape == [2, 2]) .and. a%size == 4, 'components: shape and size')
    call check(a%is_sample_dependent, 'components: sample dependent by default')
    call check(.not. a%is_scalar, 'components: not scalar by default')
    call check(.not. a%requires_grad, 'components: requires_grad false by default')
    call check(.not. associated(a%grad), 'components: no grad by default')
    call check(a%is_temporary, 'components: is_temporary true by default')
    call a%deallocate()
  end subroutine test_flatten_and_components

  subroutine test_constructor()
    type(array_type) :: a
    a = array_type()
    call check(.not. a%allocated, 'array_type(): not allocated')
    call check(a%id == -1, 'array_type(): id -1')
    call check(trim(a%operation) == 'none', 'array_type(): operation none')
    call check(a%is_temporary, 'array_type(): is_temporary')
    call check(a%owns_gradient, 'array_type(): owns_gradient')
    call check(a%is_sample_dependent, 'array_type(): sample dependent')
    call check(.not. a%requires_grad, 'array_type(): requires_grad false')
    call check(.not. allocated(a%val), 'array_type(): no values')
    ! the constructed object can be allocated and used
    call a%allocate([2, 1], source=3.0)
    call check(all(a%val == 3.0), 'array_type() then allocate')
    call a%deallocate()
  end subroutine test_constructor

  subroutine check_name(f, want)
    type(array_type), pointer, intent(inout) :: f
    character(len=*), intent(in) :: want
    call check(trim(f%operation) == want, 'operation name ' // want // ' (got ' // &
         trim(f%operation) // ')')
    call release(f)
  end subroutine check_name

  subroutine test_operation_names()
    type(array_type) :: a, b, c
    type(array_type), pointer :: f
    real(real32) :: m(2, 1)
    m = 2.0
    call new_variable(a, [0.5, 0.5], .true.)
    call new_variable(b, [1.5, 1.5], .true.)
    call new_variable(c, [1.0, 1.0], .false.)
    call check(trim(a%operation) == 'none', 'operation of a variable is none')
    f => a + b;       call check_name(f, 'add')
    f => a + 1.0;     call check_name(f, 'add')
    f => 1.0 + a;     call check_name(f, 'add')
    f => a + [1.0, 2.0]; call check_name(f, 'add')
    f => a + m;       call check_name(f, 'add')
    f => a - b;       call check_name(f, 'subtract')
    f => a - 1.0;     call check_name(f, 'subtract_scalar')
    f => 1.0 - a;     call check_name(f, 'subtract_scalar')
    f => -a;          call check_name(f, 'negate')
    f => a * b;       call check_name(f, 'multiply')
    f => a * m;       call check_name(f, 'multiply_real2d')
    f => a * 2.0;     call check_name(f, 'multiply_scalar')
    f => 2.0 * a;     call check_name(f, 'multiply_scalar')
    f => a / b;       call check_name(f, 'divide')
    f => a / 2.0;     call check_name(f, 'divide_scalar')
    f => 2.0 / a;     call check_name(f, 'scalar_divide')
    f => a / [2.0];   call check_name(f, 'divide_real1d')
    f => a ** b;      call check_name(f, 'power')
    f => a ** 2;      call check_name(f, 'power_scalar')
    f => a ** 2.0;    call check_name(f, 'power_scalar')
    f => 2.0 ** a;    call check_name(f, 'scalar_power')
    f => exp(a);      call check_name(f, 'exp')
    f => log(a);      call check_name(f, 'log')
    f => log10(a);    call check_name(f, 'log10')
    f => sqrt(a);     call check_name(f, 'sqrt')
    f => abs(a);      call check_name(f, 'abs')
    f => sigmoid(a);  call check_name(f, 'sigmoid')
    f => gaussian(a, 0.0, 1.0); call check_name(f, 'gaussian')
    f => sin(a);      call check_name(f, 'sin')
    f => cos(a);      call check_name(f, 'cos')
    f => tan(a);      call check_name(f, 'tan')
    f => tanh(a);     call check_name(f, 'tanh')
    f => max(a, b);   call check_name(f, 'max')
    f => max(a, 0.0); call check_name(f, 'max_scalar')
    f => sum(a, dim=1); call check_name(f, 'sum_array')
    f => sum(a);      call check_name(f, 'sum_all_array')
    f => mean(a, dim=2); call check_name(f, 'mean_array')
    f => mean(a);     call check_name(f, 'mean_all_array')
    ! no operand requires a gradient: a plain leaf
    f => c * 2.0
    call check(.not. f%requires_grad, 'no operand requires grad: result does not')
    call check_name(f, 'none')
    ! sign is plain values, not a node
    call check(all(sign(1.0, a) == 1.0), 'sign(1.0, a) with a > 0')
    c%val(1, 1) = -4.0
    call check(all(sign(2.0, c) == reshape([-2.0, 2.0], [2, 1])), 'sign(2.0, c) values')
    call a%deallocate()
    call b%deallocate()
    call c%deallocate()
  end subroutine test_operation_names

  subroutine test_print_graph()
    type(array_type) :: a, b
    type(array_type), pointer :: f
    call new_variable(a, [2.0, 2.0], .true.)
    call new_variable(b, [3.0, 3.0], .true.)
    f => a**4 + a**2 * b
    call f%print_graph()
    call f%print_graph(print_location=.false.)
    call f%print_graph(print_location=.true.)
    call check(trim(f%operation) == 'add', 'print_graph leaves the result intact')
    call check_close(f%val(:, 1), [16.0 + 12.0, 16.0 + 12.0], 0.0, 'print_graph: values intact')
    call release(f)
    ! a leaf prints too
    call a%print_graph(print_location=.false.)
    call a%deallocate()
    call b%deallocate()
  end subroutine test_print_graph

  !> Value assignment of a result, `v = p` with `p => a*b`: v takes the values, flags and graph
  !> of the result; the program still holds and releases the result. (With the function
  !> reference on the right, `v = a*b`, the result object is never released, as in diffstruc
  !> (docs/differences.md), so that form cannot be leak-free under valgrind.)
  subroutine test_value_assignment()
    type(array_type) :: a, b, v, w
    type(array_type), pointer :: p, q
    integer :: live
    call new_variable(a, [1.0, 2.0, 3.0], .true.)
    call new_variable(b, [4.0, 5.0, 6.0], .true.)
    live = diffstruc_live_arrays()

    p => a * b
    v = p
    call check(v%allocated, 'v = a*b: allocated')
    call check_close(v%val(:, 1), [4.0, 10.0, 18.0], 0.0, 'v = a*b: values')
    call check(v%requires_grad, 'v = a*b: requires_grad')
    call check(trim(v%operation) == 'multiply', 'v = a*b: operation')
    if (allocated(v%shape)) call check(all(v%shape == [3]), 'v = a*b: shape')
    ! the graph came along: reverse mode through the copy
    call v%grad_reverse()
    call check_close(a%grad%val(:, 1), [4.0, 5.0, 6.0], 0.0, 'v = a*b: d/da through v')
    call check_close(b%grad%val(:, 1), [1.0, 2.0, 3.0], 0.0, 'v = a*b: d/db through v')
    call a%zero_grad()
    call b%zero_grad()
    ! the result the program holds is intact
    call check_close(p%val(:, 1), [4.0, 10.0, 18.0], 0.0, 'v = a*b: the result is intact')
    ! assigning again releases the previous value
    q => a + b
    v = q
    call check_close(v%val(:, 1), [5.0, 7.0, 9.0], 0.0, 'v = a+b: reassignment values')
    ! a value copy of a value copy
    w = v
    call check_close(w%val(:, 1), [5.0, 7.0, 9.0], 0.0, 'w = v: values')
    call v%deallocate()
    call check(.not. v%allocated, 'v deallocated')
    call check_close(w%val(:, 1), [5.0, 7.0, 9.0], 0.0, 'w survives deallocate(v)')
    call w%grad_reverse()
    call check_close(a%grad%val(:, 1), [1.0, 1.0, 1.0], 0.0, 'w keeps the graph of a+b')
    call p%nullify_graph()
    deallocate(p)
    call q%nullify_graph()
    deallocate(q)
    call check_close(w%val(:, 1), [5.0, 7.0, 9.0], 0.0, 'w survives deallocate of the results')
    call w%nullify_graph()
    call w%deallocate()
    call check(diffstruc_live_arrays() == live, 'value assignment: memory returned')
    call a%deallocate()
    call b%deallocate()
  end subroutine test_value_assignment

  subroutine test_assign_and_deallocate_source()
    type(array_type) :: a, v
    type(array_type), pointer :: p
    integer :: live
    call new_variable(a, [3.0, -1.0], .true.)
    live = diffstruc_live_arrays()
    p => a**2 + 1.0
    call v%assign_and_deallocate_source(p)
    call check(.not. associated(p), 'assign_and_deallocate_source: source disassociated')
    call check_close(v%val(:, 1), [10.0, 2.0], 0.0, 'assign_and_deallocate_source: values')
    call check(v%requires_grad, 'assign_and_deallocate_source: requires_grad')
    call check(v%is_temporary, 'assign_and_deallocate_source: is_temporary true')
    call v%grad_reverse()
    call check_close(a%grad%val(:, 1), [6.0, -2.0], 0.0, &
         'assign_and_deallocate_source: graph kept (reverse)')
    v%is_temporary = .false.
    call v%nullify_graph()
    call v%deallocate()
    call check(diffstruc_live_arrays() == live, 'assign_and_deallocate_source: memory returned')
    ! the optional ownership arguments are accepted
    p => a * 3.0
    call v%assign_and_deallocate_source(p, owns_left_operand=.false., owns_right_operand=.true.)
    call check_close(v%val(:, 1), [9.0, -3.0], 0.0, 'assign_and_deallocate_source(owns_*)')
    call v%deallocate()
    call check(diffstruc_live_arrays() == live, 'assign_and_deallocate_source(owns_*): memory')
    call a%deallocate()
  end subroutine test_assign_and_deallocate_source

  !> extract into rank-1 and rank-2 allocatable arrays.
  subroutine test_extract_rank1_rank2()
    type(array_type) :: a, b
    real(real32), allocatable :: out1(:), out2(:,:)
    real(real32) :: m(3, 2)
    m = reshape([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2])
    call a%allocate(source=m)
    call a%extract(out2)
    call check(allocated(out2), 'extract rank 2: allocated')
    if (allocated(out2)) then
       call check(all(shape(out2) == [3, 2]), 'extract rank 2: shape (E,S)')
       if (all(shape(out2) == [3, 2])) call check(all(out2 == m), 'extract rank 2: values')
    end if
    ! rank 1 output from a [S] array (empty per-sample shape, so no rank warning)
    call b%allocate([3], source=0.0)
    b%val(1, :) = [7.0, 8.0, 9.0]
    call b%extract(out1)
    call check(allocated(out1), 'extract rank 1: allocated')
    if (allocated(out1)) call check_close(out1, [7.0, 8.0, 9.0], 0.0, 'extract rank 1: values')
    call a%deallocate()
    call b%deallocate()
  end subroutine test_extract_rank1_rank2

end program test_basics
