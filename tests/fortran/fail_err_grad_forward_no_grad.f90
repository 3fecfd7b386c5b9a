! EXPECT: ERROR: grad_forward: Variable does not require grad in forward mode
!> grad_forward with respect to a variable without requires_grad.
program fail_err_grad_forward_no_grad
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f, df
  call x%allocate([2, 1], source=3.0)
  x%is_temporary = .false.
  f => x * x
  df => f%grad_forward(x)
  ! not reached
  write(*, *) 'no error without requires_grad:', associated(df)
end program fail_err_grad_forward_no_grad
