! EXPECT: ERROR: assign_shallow: source must be of type array_type
!> assign_shallow from an extension of array_type.
module extended_type
  use diffstruc
  implicit none
  type, extends(array_type) :: extended
     integer :: tag = 0
  end type extended
end module extended_type

program fail_err_assign_shallow_type
  use diffstruc
  use extended_type
  implicit none
  type(array_type) :: x
  type(extended) :: e
  call e%allocate([2, 1], source=1.0)
  call x%assign_shallow(e)
  ! not reached
  write(*, *) 'no error for an extended type'
end program fail_err_assign_shallow_type
