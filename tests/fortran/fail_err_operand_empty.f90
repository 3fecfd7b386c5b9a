! EXPECT: ERROR: operator\(\*\): operand has no elements \(a zero extent\)
!> An array allocated with a zero extent (athena allocates [0, 0] placeholders) is valid, but
!> it cannot be an operand: the program stops with a message.
program fail_err_operand_empty
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  call x%allocate([0, 0])
  f => x * 2.0
  ! not reached
  write(*, *) 'no error for an empty operand:', size(f%val)
end program fail_err_operand_empty
