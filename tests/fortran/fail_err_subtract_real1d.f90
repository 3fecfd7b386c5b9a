! EXPECT: ERROR: operator\(-\): subtract: the 1-D real operand has length 3, expected 2 \(one value per sample\)
!> `a - v` with a vector of the wrong length: the message names the operator the program wrote
!> (diffstruc's node name for it is subtract_scalar).
program fail_err_subtract_real1d
  use diffstruc
  implicit none
  type(array_type) :: a
  type(array_type), pointer :: f
  call a%allocate([2, 2], source=1.0)
  f => a - [1.0, 2.0, 3.0]
  ! not reached
  write(*, *) 'no error for a vector of the wrong length:', size(f%val)
end program fail_err_subtract_real1d
