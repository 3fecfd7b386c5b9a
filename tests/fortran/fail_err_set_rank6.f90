! EXPECT: ERROR STOP:? set: input rank must be 1 to 5
!> set from a rank-6 host array: `set` is pure, so it stops with a plain `error stop <text>`
!> (not the module's " ERROR: <procedure>: <message>" format).
program fail_err_set_rank6
  use diffstruc
  implicit none
  type(array_type) :: x
  real :: host(1, 1, 1, 1, 1, 1)
  call x%allocate([1, 1])
  host = 1.0
  call x%set(host)
  ! not reached
  write(*, *) 'no error for a rank-6 input'
end program fail_err_set_rank6
