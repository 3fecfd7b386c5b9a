! EXPECT: ERROR: allocate: array shape \[3\] with batch 0: every extent must be positive
!> allocate with a batch size of 0.
program fail_err_allocate_batch_zero
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([3, 0])
  ! not reached
  write(*, *) 'no error for batch 0:', shape(x%val)
end program fail_err_allocate_batch_zero
