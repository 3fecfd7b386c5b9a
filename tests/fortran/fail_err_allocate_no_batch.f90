! EXPECT: ERROR: allocate: array_shape must hold at least the batch size
!> allocate with an empty array_shape (a zero-size variable; gfortran passes a zero-size
!> constructor `[integer ::]` as absent, which gives "No shape or source provided").
program fail_err_allocate_no_batch
  use diffstruc
  implicit none
  type(array_type) :: x
  integer :: empty(0)
  call x%allocate(empty)
  ! not reached
  write(*, *) 'no error for an empty array_shape'
end program fail_err_allocate_no_batch
