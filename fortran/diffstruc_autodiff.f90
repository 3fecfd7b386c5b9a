!> Differentiation and graph control of module diffstruc: forward and reverse mode, gradient
!> resets, nullify_graph, print_graph, and the graph utilities (duplicate_graph, detach,
!> get_ptr_from_id). Each procedure makes its array current (operand) and calls the core.
submodule (diffstruc) diffstruc_autodiff
  implicit none

contains

  !> Forward-mode seed: one value per element, shared by every sample.
  module subroutine set_direction(this, direction, stat)
    class(array_type), intent(inout) :: this
    real(real32), dimension(:), intent(in) :: direction
    integer, intent(out), optional :: stat
    type(outcome) :: o
    if (.not. has_values(this)) then
       call refuse(o, 'the array is not allocated')
    else if (size(direction) /= values_extent(this, 1)) then
       call refuse(o, 'Direction size does not match array size in set_direction')
       o%status = 3
    else
       this%direction = direction
    end if
    call settle(o, 'set_direction', stat)
  end subroutine set_direction

  !> Forward mode: the derivative of `this` along `variable`'s direction (ones if none), as a
  !> new differentiable graph. With `stat` (an extension), an error returns a null pointer
  !> and a DS_ERR_* status instead of stopping.
  module function grad_forward(this, variable, stat) result(output)
    class(array_type), intent(inout), target :: this
    type(array_type), intent(in), target :: variable
    integer, intent(out), optional :: stat
    type(array_type), pointer :: output
    type(outcome) :: o
    type(c_ptr) :: h, hx, hf
    output => null()
    if (.not. has_values(this)) then
       call refuse(o, 'the array is not allocated')
    else if (values_size(this) == 0) then
       call refuse(o, 'the array has no elements (a zero extent)')
    else if (.not. has_values(variable)) then
       call refuse(o, 'the variable is not allocated')
    else if (.not. variable%requires_grad) then
       call refuse(o, 'Variable does not require grad in forward mode')
       o%status = 5
    else
       hx = operand(variable, 'grad_forward')
       if (allocated(variable%direction) .and. allocated(variable%val64)) then
          if (.not. failed(o, ds_array_set_direction_f64(hx, real(variable%direction, &
               c_double), size(variable%direction, kind=c_size_t)))) continue
       else if (allocated(variable%direction)) then
          if (.not. failed(o, ds_array_set_direction(hx, real(variable%direction, c_float), &
               size(variable%direction, kind=c_size_t)))) continue
       else
          if (.not. failed(o, ds_array_clear_direction(hx))) continue
       end if
       if (o%status == 0) then
          hf = operand(this, 'grad_forward')
          if (.not. failed(o, ds_grad_forward(hf, hx, h))) then
             this%requires_grad = .true.
             output => make_heap(h)
             output%is_forward = .true.
          end if
       end if
    end if
    call settle(o, 'grad_forward', stat)
  end function grad_forward

  !> Reverse mode: accumulates into the `grad` of every variable `this` depends on. The seed is
  !> `this%grad%val` if `this` has a gradient, ones otherwise. With `stat` (an extension), an
  !> error returns a DS_ERR_* status instead of stopping.
  module subroutine grad_reverse(this, reset_graph, stat)
    class(array_type), intent(inout), target :: this
    logical, intent(in), optional :: reset_graph
    integer, intent(out), optional :: stat
    type(outcome) :: o
    type(c_ptr) :: h
    if (.not. has_values(this)) then
       call refuse(o, 'the array is not allocated')
    else if (values_size(this) == 0) then
       call refuse(o, 'the array has no elements (a zero extent)')
    else
       h = operand(this, 'grad_reverse')
       call reverse_pass(this, h, reset_graph, o)
    end if
    call settle(o, 'grad_reverse', stat)
  end subroutine grad_reverse

  subroutine reverse_pass(this, h, reset_graph, o)
    class(array_type), intent(inout), target :: this
    type(c_ptr), intent(in) :: h
    logical, intent(in), optional :: reset_graph
    type(outcome), intent(inout) :: o
    logical :: reset
    reset = .false.
    if (present(reset_graph)) reset = reset_graph
    if (reset) then
       if (failed(o, ds_zero_all_grads(h))) return
    end if
    call seed_of(this, h, reset)
    if (allocated(this%grad%val64)) then
       if (failed(o, ds_grad_reverse_f64(h, c_loc(this%grad%val64), &
            size(this%grad%val64, kind=c_size_t)))) return
    else
       if (failed(o, ds_grad_reverse(h, c_loc(this%grad%val), &
            size(this%grad%val, kind=c_size_t)))) return
    end if
  end subroutine reverse_pass

  !> The root's gradient object holds the seed: ones when it is new or after a reset (as
  !> diffstruc's root gradient), the program's values otherwise.
  subroutine seed_of(this, h, reset)
    class(array_type), intent(inout), target :: this
    type(c_ptr), intent(in) :: h
    logical, intent(in) :: reset
    type(array_type), pointer :: g
    logical :: fresh
    fresh = .not. associated(this%grad)
    if (.not. fresh) then
       if (.not. has_values(this%grad)) then
          fresh = .true.
       else if (values_size(this%grad) /= values_size(this)) then
          call fatal('grad_reverse', 'seed has ' // int_text(values_size(this%grad)) // &
               ' values, the result has ' // int_text(values_size(this)) // ' (' // &
               extents_text(this%shape) // ' with batch ' // int_text(values_extent(this, 2)) // &
               ')')
       end if
    end if
    if (fresh) then
       g => grad_object(h)
    else
       g => grad_object(h, this%grad)
    end if
    this%grad => g
    this%owns_gradient = .true.
    if (fresh .or. reset) call fill_values(g, 1.0_real64)
  end subroutine seed_of

  !> Sets every value of `x` (of either kind) to `v`.
  subroutine fill_values(x, v)
    type(array_type), intent(inout) :: x
    real(real64), intent(in) :: v
    ! (to a section: assigned to the whole allocatable, flang 22 fills it element by element
    ! through its general runtime routine, 60% of a Fortran W1 step)
    if (allocated(x%val)) x%val(:, :) = real(v, real32)
    if (allocated(x%val64)) x%val64(:, :) = v
  end subroutine fill_values

  !> Sets this array's gradient to zero: the core's gradient and, unless it is the same buffer
  !> (the usual case: the gradient object's values are lent from the core), the gradient
  !> object's values.
  module subroutine zero_grad(this)
    class(array_type), intent(inout), target :: this
    type(c_ptr) :: h, buffer, here
    h = handle_of(this)
    if (c_associated(h)) then
       if (ds_zero_grad(h) /= DS_OK) continue
    end if
    if (.not. associated(this%grad)) return
    ! (c_loc assigned first: c_loc as an argument of c_associated crashes gfortran 12 here.
    ! ds_array_grad_data makes a zero gradient if the core array has none: only when the
    ! program gave this%grad an object of its own, and a zero gradient changes no result.)
    buffer = c_null_ptr
    here = c_null_ptr
    if (c_associated(h) .and. values_size(this%grad) > 0) then
       if (allocated(this%grad%val64)) then
          if (ds_array_grad_data_f64(h, buffer) == DS_OK) here = c_loc(this%grad%val64(1, 1))
       else if (allocated(this%grad%val)) then
          if (ds_array_grad_data(h, buffer) == DS_OK) here = c_loc(this%grad%val(1, 1))
       end if
    end if
    if (.not. c_associated(here, buffer)) call fill_values(this%grad, 0.0_real64)
  end subroutine zero_grad

  !> Sets every gradient in the graph under this array to zero (including this one's: a
  !> following `grad_reverse` without `reset_graph` then has a zero seed, as in diffstruc).
  module subroutine zero_all_grads(this)
    class(array_type), intent(inout), target :: this
    if (.not. has_values(this)) return
    call check(ds_zero_all_grads(operand(this, 'zero_all_grads')), 'zero_all_grads')
    if (associated(this%grad)) call fill_values(this%grad, 0.0_real64)
  end subroutine zero_all_grads

  !> Zeroes every gradient in the graph and resets this array's seed to ones, so that the next
  !> `grad_reverse` starts from fresh gradients.
  module subroutine reset_graph(this)
    class(array_type), intent(inout), target :: this
    if (.not. has_values(this)) return
    call check(ds_zero_all_grads(operand(this, 'reset_graph')), 'reset_graph')
    if (associated(this%grad)) call fill_values(this%grad, 1.0_real64)
  end subroutine reset_graph

  !> Drops this array's links to the arrays it was computed from (values and gradient stay);
  !> results it took over are released. Safe to repeat; `ignore_ownership` has no effect.
  module subroutine nullify_graph(this, ignore_ownership)
    class(array_type), intent(inout), target :: this
    logical, intent(in), optional :: ignore_ownership
    type(c_ptr) :: h
    if (present(ignore_ownership)) continue
    if (has_values(this)) then
       if (values_size(this) > 0) then
          h = operand(this, 'nullify_graph')
          call check(ds_nullify_graph(h), 'nullify_graph')
       end if
    end if
    this%left_operand => null()
    this%right_operand => null()
    this%owns_left_operand = .false.
    this%owns_right_operand = .false.
    this%get_partial_left => null()
    this%get_partial_right => null()
    this%get_partial_left_val => null()
    this%get_partial_right_val => null()
  end subroutine nullify_graph

  !> Prints the operand tree in diffstruc's format.
  module subroutine print_graph(this, print_location)
    class(array_type), intent(in), target :: this
    logical, intent(in), optional :: print_location
    logical(c_bool) :: loc
    integer(c_size_t) :: n
    integer(c_int) :: status
    character(kind=c_char), allocatable :: buf(:)
    character(kind=c_char) :: probe(1)
    type(c_ptr) :: h
    integer :: i, start
    loc = .true.
    if (present(print_location)) loc = print_location
    if (.not. has_values(this)) call fatal('print_graph', 'the array is not allocated')
    h = operand(this, 'print_graph')
    status = ds_graph_print(h, loc, probe, 1_c_size_t, n)
    allocate(buf(n + 1))
    call check(ds_graph_print(h, loc, buf, n + 1, n), 'print_graph')
    print *, '--- Computation Graph Tree ---'
    start = 1
    do i = 1, int(n)
       if (buf(i) == achar(10)) then
          call print_line(start, i - 1)
          start = i + 1
       end if
    end do
    call print_line(start, int(n))
    print *, '--- End Graph ---'
  contains
    subroutine print_line(first, last)
      integer, intent(in) :: first, last
      character(len=last - first + 1) :: line
      integer :: k
      do k = first, last
         line(k - first + 1:k - first + 1) = buf(k)
      end do
      write(*, *) line
    end subroutine print_line
  end subroutine print_graph

  !> The graph under `x` as Graphviz DOT text (an extension): one node per array, shared nodes
  !> drawn once, labelled with operation, per-sample shape and batch size.
  module function diffstruc_graph_dot(x) result(text)
    class(array_type), intent(in), target :: x
    character(len=:), allocatable :: text
    integer(c_size_t) :: n
    integer(c_int) :: status
    character(kind=c_char), allocatable :: buf(:)
    character(kind=c_char) :: probe(1)
    type(c_ptr) :: h
    integer :: i
    if (.not. has_values(x)) call fatal('diffstruc_graph_dot', 'the array is not allocated')
    h = operand(x, 'diffstruc_graph_dot')
    status = ds_graph_dot(h, probe, 1_c_size_t, n)
    allocate(buf(n + 1))
    call check(ds_graph_dot(h, buf, n + 1, n), 'diffstruc_graph_dot')
    allocate(character(len=int(n)) :: text)
    do i = 1, int(n)
       text(i:i) = buf(i)
    end do
  end function diffstruc_graph_dot

  !> Writes the DOT text of the graph under `x` to `file` (an extension; render it with
  !> `dot -Tpng file -o graph.png`).
  module subroutine diffstruc_write_dot(x, file)
    class(array_type), intent(in), target :: x
    character(len=*), intent(in) :: file
    integer :: unit, ios
    character(len=256) :: msg
    open (newunit=unit, file=file, status='replace', action='write', form='formatted', &
         iostat=ios, iomsg=msg)
    if (ios /= 0) call fatal('diffstruc_write_dot', 'cannot open ' // file // ': ' // trim(msg))
    write (unit, '(a)', advance='no') diffstruc_graph_dot(x)
    close (unit)
  end subroutine diffstruc_write_dot

  !> A deep copy of the graph under this array (values, flags, `id` tags and gradients copied;
  !> `fix_pointer` arrays are referred to, not copied), as a new result.
  module function duplicate_graph(this) result(output)
    class(array_type), intent(inout), target :: this
    type(array_type), pointer :: output
    type(c_ptr) :: h
    call check(ds_duplicate_graph(operand(this, 'duplicate_graph'), h), 'duplicate_graph')
    output => make_heap(h)
  end function duplicate_graph

  !> Forgets how this array was computed: it keeps its values and gradient, and no longer
  !> requires a gradient (`operation = 'none'`, no operands).
  module subroutine detach(this)
    class(array_type), intent(inout), target :: this
    if (has_values(this)) then
       if (values_size(this) > 0) call check(ds_detach(operand(this, 'detach')), 'detach')
    end if
    this%requires_grad = .false.
    this%is_forward = .false.
    this%operation = 'none'
    this%left_operand => null()
    this%right_operand => null()
    this%owns_left_operand = .false.
    this%owns_right_operand = .false.
  end subroutine detach

  !> The first array, in pre-order from this one (an array, then its left operand's graph, then
  !> its right operand's), whose `id` is `id`; unassociated if there is none. The object
  !> returned belongs to this array's graph (it is released with it; deallocating it as well is
  !> harmless).
  module function get_ptr_from_id(this, id) result(output)
    class(array_type), intent(in), target :: this
    integer, intent(in) :: id
    type(array_type), pointer :: output
    type(c_ptr) :: h, root
    logical(c_bool) :: same
    output => null()
    ! diffstruc's way first: the operand links, through this module's own objects (the ones
    ! it can tell are intact), whose `id` the program may have set after the graph was built
    if (this%id == id) then
       output => this
       return
    end if
    output => linked_with_id(this, id)
    if (associated(output)) return
    ! then the graph itself, by the ids the core was given when the arrays were used
    root = operand(this, 'get_ptr_from_id')
    call check(ds_graph_find_id(root, int(id, c_int64_t), h), 'get_ptr_from_id')
    if (.not. c_associated(h)) return
    call check(ds_array_same(root, h, same), 'get_ptr_from_id')
    if (same) then
       call check(ds_array_free(h), 'get_ptr_from_id')
       output => this
       return
    end if
    output => make_heap(h)
    ! a variable found in the graph comes with its gradient, as diffstruc's node does
    call ensure_grad(output, handle_of(output))
    call adopt_temporary(root, output)
  end function get_ptr_from_id

  !> The object with `id` among the objects `this` links to, following only links to intact
  !> objects of this module (results and views, registered with the library: a link to
  !> anything else may dangle and is not read). Depth first, left before right, as diffstruc;
  !> each object visited once; no recursion (graphs may be deep).
  function linked_with_id(this, id) result(found)
    class(array_type), intent(in) :: this
    integer, intent(in) :: id
    type(array_type), pointer :: found, p
    type(c_ptr), allocatable :: stack(:)
    integer(c_intptr_t), allocatable :: seen(:)
    integer(c_intptr_t) :: at
    integer :: top, n_seen
    logical(c_bool) :: intact
    found => null()
    allocate(stack(16), seen(16))
    top = 0
    n_seen = 0
    call push(this%right_operand)
    call push(this%left_operand)
    do while (top > 0)
       call c_f_pointer(stack(top), p)
       top = top - 1
       at = transfer(c_loc(p), at)
       if (any(seen(1:n_seen) == at)) cycle
       call check(ds_object_live(c_loc(p), 0_c_int64_t, intact), 'get_ptr_from_id')
       if (.not. intact) cycle
       if (n_seen == size(seen)) seen = [seen, seen]
       n_seen = n_seen + 1
       seen(n_seen) = at
       if (p%id == id) then
          found => p
          return
       end if
       call push(p%right_operand)
       call push(p%left_operand)
    end do
  contains
    subroutine push(q)
      type(array_type), pointer, intent(in) :: q
      if (.not. associated(q)) return
      if (top == size(stack)) stack = [stack, stack]
      top = top + 1
      stack(top) = c_loc(q)
    end subroutine push
  end function linked_with_id

end submodule diffstruc_autodiff
