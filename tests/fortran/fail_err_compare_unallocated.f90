! EXPECT: ERROR: \.gt\.: the array is not allocated
!> a comparison (plain logical values) on an array that was never allocated.
program fail_err_compare_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x
  write(*, *) x .gt. 1.0
  ! not reached
  write(*, *) 'no error for .gt. on an unallocated array'
end program fail_err_compare_unallocated
