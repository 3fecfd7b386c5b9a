! EXPECT: ERROR: allocate: Unrecognised source rank
!> allocate with a rank-1 real source (only a scalar, a rank-2 (E, S) array or an array_type
!> are accepted).
program fail_err_allocate_source_rank
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([2, 1], source=[1.0, 2.0])
  ! not reached
  write(*, *) 'no error for a rank-1 source'
end program fail_err_allocate_source_rank
