! EXPECT: ERROR: allocate: Source shape does not match array shape
!> allocate with a real (E, S) source whose shape differs from array_shape.
program fail_err_allocate_source_shape
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([2, 2], source=reshape([1.0, 2.0, 3.0], [3, 1]))
  ! not reached
  write(*, *) 'no error for a [3, 1] source with shape [2, 2]'
end program fail_err_allocate_source_shape
