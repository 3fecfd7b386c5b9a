! EXPECT: ERROR: extract: output rank 6 needs at least 5.*per-sample dimensions.*extract returned: output allocated = F
!> extract into a rank-6 host array from an array of per-sample rank 1: extract prints an
!> error on stderr (split over two lines) and RETURNS with the output deallocated; the program
!> goes on. This program then stops itself, after reporting what it saw.
program fail_err_extract_rank6
  use diffstruc
  use, intrinsic :: iso_fortran_env, only: error_unit
  implicit none
  type(array_type) :: x
  real, allocatable :: host(:, :, :, :, :, :)
  call x%allocate([2, 1], source=1.0)
  call x%extract(host)
  write(error_unit, '(a, l1)') 'extract returned: output allocated = ', allocated(host)
  flush(error_unit)
  error stop 2
end program fail_err_extract_rank6
