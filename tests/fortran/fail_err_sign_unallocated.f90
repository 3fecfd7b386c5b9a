! EXPECT: ERROR: sign: the array is not allocated
!> sign (plain values) of an array that was never allocated.
program fail_err_sign_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x
  write(*, *) sign(1.0, x)
  ! not reached
  write(*, *) 'no error for sign on an unallocated array'
end program fail_err_sign_unallocated
