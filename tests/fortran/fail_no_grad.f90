! EXPECT: ERROR: grad_forward: .*(does not require grad|requires_grad)
!> grad_forward with respect to a variable without requires_grad stops with an error (diffstruc
!> only warns and returns an undefined pointer).
program fail_no_grad
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f, df
  call x%allocate([1, 1], source=3.0)
  x%is_temporary = .false.
  f => x**2
  df => f%grad_forward(x)
  ! not reached
  write(*, *) 'no error without requires_grad:', associated(df)
end program fail_no_grad
