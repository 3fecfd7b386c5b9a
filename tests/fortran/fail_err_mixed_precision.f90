! EXPECT: operator\(\+\).*different element types \(real64 \[2\] with batch 1, real32 \[2\] with batch 1\)
!> A real64 array and a real32 array in one operation: stopped, both operands named.
program fail_err_mixed_precision
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([2, 1], source=1.0_real64)
  call y%allocate([2, 1], source=1.0_real32)
  f => x + y
end program fail_err_mixed_precision
