! EXPECT: ERROR: allocate: Source shape not provided
!> allocate with a real scalar source and no array_shape.
program fail_err_allocate_no_shape
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate(source=1.0)
  ! not reached
  write(*, *) 'no error for a scalar source without a shape'
end program fail_err_allocate_no_shape
