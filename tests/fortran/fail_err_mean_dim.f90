! EXPECT: ERROR: mean: mean_array: dim must be 1 \(elements\) or 2 \(batch\), got 0 for an array \[3\] with batch 2
!> mean along dim 0.
program fail_err_mean_dim
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => mean(x, 0)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_mean_dim
