! EXPECT: ERROR: create_result: array_shape must hold at least the batch size
!> create_result with an empty array_shape.
program fail_err_create_result_no_batch
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  integer :: empty(0)
  call x%allocate([2, 1], source=1.0)
  f => x%create_result(empty)
  ! not reached
  write(*, *) 'no error for create_result:', associated(f)
end program fail_err_create_result_no_batch
