! EXPECT: ERROR: exp: operand is not allocated
!> an operation on an array after its deallocate (use after free). A second deallocate is
!> harmless (tests/fortran/test_memory.f90, test_nullify_twice).
program fail_err_use_after_deallocate
  use diffstruc
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  call x%allocate([2, 1], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  call x%deallocate()
  call x%deallocate()
  f => exp(x)
  ! not reached
  write(*, *) 'no error:', associated(f)
end program fail_err_use_after_deallocate
