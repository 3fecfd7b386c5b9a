! EXPECT: ERROR: assign_and_deallocate_source: source is null
!> assign_and_deallocate_source from a disassociated pointer.
program fail_err_assign_null_source
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  f => null()
  call x%assign_and_deallocate_source(f)
  ! not reached
  write(*, *) 'no error for a null source'
end program fail_err_assign_null_source
