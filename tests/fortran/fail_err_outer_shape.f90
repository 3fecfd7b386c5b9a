! EXPECT: ERROR: outer_product: both operands must be vectors \(rank 1\), got \[2, 3\] with batch 1 and \[3\] with batch 1
!> outer_product of a matrix and a vector.
program fail_err_outer_shape
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([2, 3, 1], source=1.0)
  call y%allocate([3, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  f => x .outer. y
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_outer_shape
