! EXPECT: ERROR: concat: dim must be 1 \(elements\) or 2 \(batch\), got 3 for an array \[3\] with batch 1
!> concat along dim 3.
program fail_err_concat_dim
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 1], source=1.0)
  call y%allocate([2, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  f => concat(x, y, 3)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_concat_dim
