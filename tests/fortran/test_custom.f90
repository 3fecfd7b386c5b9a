!> Custom operations written with diffstruc's pattern (create_result, fill val, set the
!> get_partial_* procedure pointers, link the operands): one with a wrapped constant the result
!> owns, one with two array operands, and one whose forward rule is its get_partial_right
!> (diffstruc's convention for a node with a left operand only). Values, reverse mode, forward
!> mode, forward-over-forward and reverse-over-forward against closed forms, inside larger
!> expressions, and no array left alive at the end.
module custom_ops
  use diffstruc
  implicit none
  private
  public :: scaled_cube, hadamard, double_it

contains

  !> c * a**3, with c in an owned constant operand (as athena's operations store parameters).
  function scaled_cube(a, c) result(r)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: c
    type(array_type), pointer :: r
    type(array_type), pointer :: b_array
    r => a%create_result()
    r%val = c * a%val**3
    r%get_partial_left => cube_partial
    r%get_partial_left_val => cube_partial_val
    if (a%requires_grad) then
       r%requires_grad = .true.
       r%is_forward = a%is_forward
       r%operation = 'scaled_cube'
       r%left_operand => a
       r%owns_left_operand = a%is_temporary
    end if
    allocate(b_array)
    b_array%is_sample_dependent = .false.
    b_array%requires_grad = .false.
    call b_array%allocate(array_shape=[1, 1])
    b_array%val(1, 1) = c
    r%right_operand => b_array
    r%owns_right_operand = .true.
  end function scaled_cube

  !> Forward rule: upstream * 3c a**2, built from differentiable operations.
  function cube_partial(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    logical :: was_temporary
    was_temporary = this%left_operand%is_temporary
    this%left_operand%is_temporary = .false.
    ptr => upstream_grad * (3.0 * this%right_operand%val(1, 1)) * this%left_operand**2
    this%left_operand%is_temporary = was_temporary
    call output%assign_and_deallocate_source(ptr)
  end function cube_partial

  pure subroutine cube_partial_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    output = upstream_grad * 3.0 * this%right_operand%val(1, 1) * this%left_operand%val**2
  end subroutine cube_partial_val

  !> a * b element-wise, with a rule for each operand.
  function hadamard(a, b) result(r)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: r
    r => a%create_result()
    r%val = a%val * b%val
    r%get_partial_left => hadamard_left
    r%get_partial_right => hadamard_right
    r%get_partial_left_val => hadamard_left_val
    r%get_partial_right_val => hadamard_right_val
    if (a%requires_grad .or. b%requires_grad) then
       r%requires_grad = .true.
       r%is_forward = a%is_forward .or. b%is_forward
       r%operation = 'hadamard'
       r%left_operand => a
       r%right_operand => b
       r%owns_left_operand = a%is_temporary
       r%owns_right_operand = b%is_temporary
    end if
  end function hadamard

  function hadamard_left(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    logical :: was_temporary
    was_temporary = this%right_operand%is_temporary
    this%right_operand%is_temporary = .false.
    ptr => upstream_grad * this%right_operand
    this%right_operand%is_temporary = was_temporary
    call output%assign_and_deallocate_source(ptr)
  end function hadamard_left

  function hadamard_right(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    logical :: was_temporary
    was_temporary = this%left_operand%is_temporary
    this%left_operand%is_temporary = .false.
    ptr => upstream_grad * this%left_operand
    this%left_operand%is_temporary = was_temporary
    call output%assign_and_deallocate_source(ptr)
  end function hadamard_right

  pure subroutine hadamard_left_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    output = upstream_grad * this%right_operand%val
  end subroutine hadamard_left_val

  pure subroutine hadamard_right_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    output = upstream_grad * this%left_operand%val
  end subroutine hadamard_right_val

  !> 2a, whose forward rule is get_partial_right (the node has a left operand only); its
  !> get_partial_left is deliberately wrong so that using it would be detected.
  function double_it(a) result(r)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: r
    r => a%create_result()
    r%val = 2.0 * a%val
    r%get_partial_left => triple_partial
    r%get_partial_right => double_partial
    r%get_partial_left_val => double_partial_val
    if (a%requires_grad) then
       r%requires_grad = .true.
       r%is_forward = a%is_forward
       r%operation = 'double_it'
       r%left_operand => a
       r%owns_left_operand = a%is_temporary
    end if
  end function double_it

  function double_partial(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    ptr => 2.0 * upstream_grad
    call output%assign_and_deallocate_source(ptr)
  end function double_partial

  function triple_partial(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    ptr => 3.0 * upstream_grad
    call output%assign_and_deallocate_source(ptr)
  end function triple_partial

  pure subroutine double_partial_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    output = 2.0 * upstream_grad
  end subroutine double_partial_val

end module custom_ops

program test_custom
  use diffstruc
  use custom_ops
  use test_utils, only: check, check_close, finish, flat
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f, df, d2, g, s
  real(real32) :: xv(2, 2), yv(2, 2)
  integer :: live

  live = diffstruc_live_arrays()
  xv = reshape([1.0, -2.0, 0.5, 3.0], [2, 2])
  yv = reshape([2.0, 0.5, -1.0, 4.0], [2, 2])
  call x%allocate(source=xv)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  call y%allocate(source=yv)
  call y%set_requires_grad(.true.)
  y%is_temporary = .false.

  ! ---- scaled_cube: values, both modes, second order --------------------------------------
  f => scaled_cube(x, 0.5)
  call check(trim(f%operation) == 'scaled_cube', 'scaled_cube: operation name')
  call check_close(flat(f%val), flat(0.5 * xv**3), 1e-6, 'scaled_cube: values')
  call f%grad_reverse()
  call check_close(flat(x%grad%val), flat(1.5 * xv**2), 1e-5, 'scaled_cube: reverse')
  df => f%grad_forward(x)
  call check_close(flat(df%val), flat(1.5 * xv**2), 1e-5, 'scaled_cube: forward')
  d2 => df%grad_forward(x)
  call check_close(flat(d2%val), flat(3.0 * xv), 1e-5, 'scaled_cube: forward over forward')
  call x%zero_grad()
  call df%grad_reverse()
  call check_close(flat(x%grad%val), flat(3.0 * xv), 1e-5, 'scaled_cube: reverse over forward')
  call f%nullify_graph()
  call df%nullify_graph()
  call d2%nullify_graph()
  deallocate(f, df, d2)

  ! ---- inside an expression: consumed temporaries on both sides ----------------------------
  call x%zero_grad()
  g => sum(scaled_cube(x * 2.0, 1.0))
  call g%grad_reverse()
  call check_close(g%val(1, 1), sum((2.0 * xv)**3), 1e-4, 'sum(scaled_cube(2x)): value')
  call check_close(flat(x%grad%val), flat(24.0 * xv**2), 1e-4, 'sum(scaled_cube(2x)): reverse')
  deallocate(g)

  ! ---- two operands ------------------------------------------------------------------------
  call x%zero_grad()
  call y%zero_grad()
  f => hadamard(x, y)
  f%is_temporary = .false.   ! used twice below and released by the program (diffstruc's rule)
  s => sum(f * f)
  call s%grad_reverse()
  call check_close(flat(x%grad%val), flat(2.0 * xv * yv**2), 1e-4, 'hadamard: reverse d/dx')
  call check_close(flat(y%grad%val), flat(2.0 * yv * xv**2), 1e-4, 'hadamard: reverse d/dy')
  df => f%grad_forward(y)
  call check_close(flat(df%val), flat(xv), 1e-6, 'hadamard: forward d/dy')
  d2 => df%grad_forward(x)
  call check_close(flat(d2%val), [1.0, 1.0, 1.0, 1.0], 1e-6, 'hadamard: d2/dxdy')
  call check(trim(f%operation) == 'hadamard', 'hadamard: operation name')
  deallocate(d2, df, s, f)

  ! ---- forward rule from get_partial_right -------------------------------------------------
  call x%zero_grad()
  f => double_it(x)
  df => f%grad_forward(x)
  call check_close(flat(df%val), [2.0, 2.0, 2.0, 2.0], 1e-6, &
       'double_it: forward uses get_partial_right')
  call f%grad_reverse()
  call check_close(flat(x%grad%val), [2.0, 2.0, 2.0, 2.0], 1e-6, 'double_it: reverse')
  deallocate(df, f)

  ! ---- nothing requires a gradient: a leaf that still owns its constant ---------------------
  call x%set_requires_grad(.false.)
  f => scaled_cube(x, 2.0)
  call check(trim(f%operation) == 'none' .and. .not. f%requires_grad, &
       'scaled_cube of a constant: a leaf')
  call check_close(flat(f%val), flat(2.0 * xv**3), 1e-5, 'scaled_cube of a constant: values')
  deallocate(f)

  call x%deallocate()
  call y%deallocate()
  call check(diffstruc_live_arrays() == live, 'no array left alive')
  call finish()
end program test_custom
