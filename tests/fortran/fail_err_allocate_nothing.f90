! EXPECT: ERROR: allocate: No shape or source provided
!> allocate with neither array_shape nor source.
program fail_err_allocate_nothing
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate()
  ! not reached
  write(*, *) 'no error for allocate()'
end program fail_err_allocate_nothing
