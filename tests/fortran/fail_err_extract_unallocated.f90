! EXPECT: WARNING: Trying to extract from unallocated array.*extract returned: output allocated = F
!> extract from an array that was never allocated: a WARNING on stderr, and extract returns with
!> the output deallocated; the program goes on (this program then stops itself).
program fail_err_extract_unallocated
  use diffstruc
  use, intrinsic :: iso_fortran_env, only: error_unit
  implicit none
  type(array_type) :: x
  real, allocatable :: host(:, :)
  call x%extract(host)
  write(error_unit, '(a, l1)') 'extract returned: output allocated = ', allocated(host)
  flush(error_unit)
  error stop 2
end program fail_err_extract_unallocated
