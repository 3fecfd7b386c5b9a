! EXPECT: ERROR: pack: pack_mask: dim must be 1 \(elements\) or 2 \(batch\), got -1 for an array \[3\] with batch 2
!> pack with a mask along dim -1.
program fail_err_pack_dim
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => pack(x, -1, [.true., .false., .true.])
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_pack_dim
