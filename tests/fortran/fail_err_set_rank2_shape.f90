! EXPECT: ERROR STOP:? set: rank-2 input shape differs from \(elements, batch\)
!> set from a rank-2 host array whose shape differs from (E, S).
program fail_err_set_rank2_shape
  use diffstruc
  implicit none
  type(array_type) :: x
  real :: host(2, 3)
  call x%allocate([3, 2])
  host = 1.0
  call x%set(host)
  ! not reached
  write(*, *) 'no error for a 2 x 3 input into 3 x 2'
end program fail_err_set_rank2_shape
