! EXPECT: ERROR: allocate: shape buffer holds 32 extents, the array has rank 33
!> allocate with a per-sample rank of 33: the module reads shapes through a buffer of 32 extents
!> (the core itself has no rank limit).
program fail_err_rank33
  use diffstruc
  implicit none
  type(array_type) :: x
  integer :: array_shape(34)
  array_shape = 1
  call x%allocate(array_shape)
  ! not reached
  write(*, *) 'no error for rank 33:', size(x%shape)
end program fail_err_rank33
