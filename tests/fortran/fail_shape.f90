! EXPECT: ERROR: operator\(\+\)
!> Adding arrays of different shapes stops with an error naming the operator.
program fail_shape
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 1], source=1.0)
  call y%allocate([2, 1], source=2.0)
  x%is_temporary = .false.
  y%is_temporary = .false.
  f => x + y
  ! not reached
  write(*, *) 'no error for [3] + [2]:', f%val(:, 1)
end program fail_shape
