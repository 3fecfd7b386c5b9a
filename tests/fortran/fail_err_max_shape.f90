! EXPECT: ERROR: max: shapes do not conform: \[3\] with batch 1 and \[2\] with batch 1
!> max of two arrays whose per-sample shapes differ.
program fail_err_max_shape
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 1], source=1.0)
  call y%allocate([2, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  f => max(x, y)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_max_shape
