! EXPECT: ERROR: reshape: new shape \[4\] has 4 elements, the array \[6\] with batch 2 has 6
!> reshape to a per-sample shape of a different size stops with an error.
program fail_movement_reshape_size
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  call x%allocate([6, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => reshape(x, [4])
  ! not reached
  write(*, *) 'no error for reshape of 6 elements to [4]:', shape(f%val)
end program fail_movement_reshape_size
