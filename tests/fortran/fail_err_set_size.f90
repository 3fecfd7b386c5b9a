! EXPECT: ERROR STOP:? set: rank-1 input length differs from the elements per sample
!> set from a rank-1 host array shorter than a sample.
program fail_err_set_size
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([3, 1])
  call x%set([1.0, 2.0])
  ! not reached
  write(*, *) 'no error for 2 values into 3 elements'
end program fail_err_set_size
