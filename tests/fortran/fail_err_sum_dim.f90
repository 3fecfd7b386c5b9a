! EXPECT: ERROR: sum: sum_array: dim must be 1 \(elements\) or 2 \(batch\), got 3 for an array \[3\] with batch 2
!> sum along dim 3 (only 1, the elements, and 2, the batch, exist).
program fail_err_sum_dim
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => sum(x, 3)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_sum_dim
