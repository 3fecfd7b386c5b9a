! EXPECT: ERROR STOP:? set: the array is not allocated
!> set on an array that was never allocated (a plain `error stop <text>`: set is pure).
program fail_err_set_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%set([1.0, 2.0])
  ! not reached
  write(*, *) 'no error for set on an unallocated array'
end program fail_err_set_unallocated
