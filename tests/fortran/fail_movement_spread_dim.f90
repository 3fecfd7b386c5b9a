! EXPECT: ERROR: spread: dim must be 1 \(elements\) or 2 \(batch\), got 3 for an array \[3\] with batch 2
!> spread along a dimension other than 1 (elements) or 2 (batch) stops with an error.
program fail_movement_spread_dim
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => spread(x, 3, 1, 2)
  ! not reached
  write(*, *) 'no error for spread along dim 3:', shape(f%val)
end program fail_movement_spread_dim
