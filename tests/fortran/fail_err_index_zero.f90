! EXPECT: ERROR: \.index\.: index: index 0 \(entry 1 of the list\) is out of range 1\.\.2
!> .index. with sample index 0 (positions are 1-based).
program fail_err_index_zero
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => x .index. [0, 1]
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_index_zero
