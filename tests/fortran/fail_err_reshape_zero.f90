! EXPECT: ERROR: reshape: array shape \[0\] with batch 2: every extent must be positive
!> reshape to a per-sample shape with a zero extent.
program fail_err_reshape_zero
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => reshape(x, [0])
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_reshape_zero
