! EXPECT: ERROR: reshape: new_shape = -3 must not be negative
!> reshape to a per-sample shape with a negative extent.
program fail_err_reshape_negative
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => reshape(x, [-3, -1])
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_reshape_negative
