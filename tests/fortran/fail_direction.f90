! EXPECT: ERROR: set_direction: Direction size does not match array size
!> A direction whose length differs from the elements per sample stops with an error.
program fail_direction
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  call x%set_direction([1.0, 0.0])
  ! not reached
  write(*, *) 'no error for a direction of length 2 on 3 elements'
end program fail_direction
