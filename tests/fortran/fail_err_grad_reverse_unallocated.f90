! EXPECT: ERROR: grad_reverse: the array is not allocated
!> grad_reverse on an array that was never allocated.
program fail_err_grad_reverse_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%grad_reverse()
  ! not reached
  write(*, *) 'no error for grad_reverse on an unallocated array'
end program fail_err_grad_reverse_unallocated
