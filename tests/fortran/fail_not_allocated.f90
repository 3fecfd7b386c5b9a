! EXPECT: ERROR: operator\(\*\): .*not allocated
!> An operation on an array that was never allocated stops with an error.
program fail_not_allocated
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call y%allocate([2, 1], source=2.0)
  x%is_temporary = .false.
  y%is_temporary = .false.
  f => x * y
  ! not reached
  write(*, *) 'no error for an unallocated operand:', associated(f)
end program fail_not_allocated
