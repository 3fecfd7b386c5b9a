! EXPECT: ERROR: spread: index \(an element\) 4 is out of range 1\.\.3
!> spread of element 4 of a 3-element sample.
program fail_err_spread_index
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([3, 2], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => spread(x, 1, 4, 2)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_spread_index
