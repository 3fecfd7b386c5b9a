! EXPECT: ERROR: grad_forward: the variable is not allocated
!> grad_forward with respect to a variable that was never allocated.
program fail_err_grad_forward_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f, df
  call y%allocate([2, 1], source=3.0)
  call y%set_requires_grad(.true.)
  y%is_temporary = .false.
  f => y * y
  df => f%grad_forward(x)
  ! not reached
  write(*, *) 'no error for an unallocated variable:', associated(df)
end program fail_err_grad_forward_unallocated
