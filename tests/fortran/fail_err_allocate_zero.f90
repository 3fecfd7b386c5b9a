! EXPECT: ERROR: allocate: array shape \[3, 0\] with batch 2: every extent must be positive
!> allocate with a zero extent in the per-sample shape.
program fail_err_allocate_zero
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([3, 0, 2], source=1.0)
  ! not reached
  write(*, *) 'no error for a zero extent:', shape(x%val)
end program fail_err_allocate_zero
