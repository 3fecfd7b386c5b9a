! EXPECT: ERROR: merge: mask has 4 entries, the result 3 x 2 needs 6
!> merge with a mask whose shape differs from the arrays' (E, S) stops with an error.
program fail_movement_merge_mask
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  logical :: mask(2, 2)
  call x%allocate([3, 2], source=1.0)
  call y%allocate([3, 2], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  mask = .true.
  f => merge(x, y, mask)
  ! not reached
  write(*, *) 'no error for a 2 x 2 mask on 3 x 2 arrays:', f%val
end program fail_movement_merge_mask
