! EXPECT: ERROR: set_direction: the array is not allocated
!> set_direction on an array that was never allocated.
program fail_err_direction_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%set_direction([1.0])
  ! not reached
  write(*, *) 'no error for an unallocated array'
end program fail_err_direction_unallocated
