! EXPECT: ERROR: maxval: dim must be 1 \(elements\) or 2 \(batch\)
!> maxval (plain values, checked in Fortran) along dim 3.
program fail_err_maxval_dim
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  write(*, *) maxval(x, 3)
  ! not reached
  write(*, *) 'no error for maxval along dim 3'
end program fail_err_maxval_dim
