! EXPECT: ERROR: maxval: the array is not allocated
!> maxval (plain values) of an array that was never allocated.
program fail_err_maxval_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x
  write(*, *) maxval(x, 1)
  ! not reached
  write(*, *) 'no error for maxval on an unallocated array'
end program fail_err_maxval_unallocated
