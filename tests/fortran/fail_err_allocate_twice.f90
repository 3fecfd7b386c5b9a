! EXPECT: ERROR: allocate: Trying to allocate already allocated array values
!> allocate on an array that is already allocated.
program fail_err_allocate_twice
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([2, 1])
  call x%allocate([2, 1])
  ! not reached
  write(*, *) 'no error for a second allocate'
end program fail_err_allocate_twice
