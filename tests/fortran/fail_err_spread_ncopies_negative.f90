! EXPECT: ERROR: spread: ncopies = -2 must not be negative
!> spread with ncopies = -2.
program fail_err_spread_ncopies_negative
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => spread(x, 2, 1, -2)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_spread_ncopies_negative
