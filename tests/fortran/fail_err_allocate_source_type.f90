! EXPECT: ERROR: allocate: Incompatible source type for rank 0
!> allocate with an integer scalar source.
program fail_err_allocate_source_type
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([2, 1], source=3)
  ! not reached
  write(*, *) 'no error for an integer source'
end program fail_err_allocate_source_type
