! EXPECT: ERROR: allocate: array shape \[-2\] with batch 1: negative extent
!> allocate with a negative extent.
program fail_err_allocate_negative
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([-2, 1])
  ! not reached
  write(*, *) 'no error for a negative extent:', shape(x%val)
end program fail_err_allocate_negative
