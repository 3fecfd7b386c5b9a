! EXPECT: ERROR: spread: ncopies must be positive
!> spread with ncopies = 0.
program fail_err_spread_ncopies_zero
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => spread(x, 1, 1, 0)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_spread_ncopies_zero
