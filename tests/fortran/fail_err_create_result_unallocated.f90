! EXPECT: ERROR: create_result: the array is not allocated
!> create_result without array_shape on an array that was never allocated.
program fail_err_create_result_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  f => x%create_result()
  ! not reached
  write(*, *) 'no error for create_result:', associated(f)
end program fail_err_create_result_unallocated
