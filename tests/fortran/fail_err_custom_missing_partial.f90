! EXPECT: ERROR: grad_forward: custom operation 'times': forward rule for input 2 failed: the get_partial_right procedure pointer of 'times' is not set
!> A custom operation with two operands and only `get_partial_left`: forward mode with respect
!> to the right operand stops, naming the missing procedure pointer.
module times_op
  use diffstruc
  implicit none
contains
  function times(a, b) result(r)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: r
    r => a%create_result()
    r%val = a%val * b%val
    r%get_partial_left => times_left
    r%requires_grad = .true.
    r%operation = 'times'
    r%left_operand => a
    r%right_operand => b
  end function times

  function times_left(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    ptr => upstream_grad * this%right_operand
    call output%assign_and_deallocate_source(ptr)
  end function times_left
end module times_op

program fail_err_custom_missing_partial
  use diffstruc
  use times_op
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f, df
  call x%allocate([2, 1], source=1.0)
  call y%allocate([2, 1], source=2.0)
  call x%set_requires_grad(.true.)
  call y%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  f => times(x, y)
  df => f%grad_forward(y)
  ! not reached
  write(*, *) 'no error without get_partial_right:', associated(df)
end program fail_err_custom_missing_partial
