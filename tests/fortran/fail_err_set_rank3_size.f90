! EXPECT: ERROR STOP:? set: input size differs from the array size
!> set from a rank-3 host array with fewer values than the array.
program fail_err_set_rank3_size
  use diffstruc
  implicit none
  type(array_type) :: x
  real :: host(2, 2, 1)
  call x%allocate([2, 3, 1])
  host = 1.0
  call x%set(host)
  ! not reached
  write(*, *) 'no error for 4 values into 6'
end program fail_err_set_rank3_size
