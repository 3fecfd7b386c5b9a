! EXPECT: ERROR: operator\(\*\*\): power: shapes do not conform: \[2\] with batch 3 and \[2\] with batch 2
!> x ** y with the same per-sample shape but batch sizes 3 and 2 (neither is 1: no broadcasting).
program fail_err_pow_batch
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([2, 3], source=1.0)
  call y%allocate([2, 2], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  f => x ** y
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_pow_batch
