! EXPECT: ERROR: matmul: cannot multiply \[2, 3\] with batch 1 by \[2\] with batch 1: inner extents 3 and 2 differ
!> matmul of a [2, 3] matrix by a vector of 2.
program fail_err_matmul_shape
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([2, 3, 1], source=1.0)
  call y%allocate([2, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  f => matmul(x, y)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_matmul_shape
