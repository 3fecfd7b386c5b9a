! EXPECT: ^extract returned: output allocated = F
!> extract into a rank-6 host array from an array of per-sample rank 5: the only message,
!> "Error: Unable to extract array with rank greater than 5", goes to STDOUT (list-directed);
!> extract returns with the output deallocated and the program goes on. stderr holds only
!> this program's own report (nothing from extract before it).
program fail_err_extract_rank6_wide
  use diffstruc
  use, intrinsic :: iso_fortran_env, only: error_unit
  implicit none
  type(array_type) :: x
  real, allocatable :: host(:, :, :, :, :, :)
  call x%allocate([1, 1, 1, 1, 2, 1], source=1.0)
  call x%extract(host)
  write(error_unit, '(a, l1)') 'extract returned: output allocated = ', allocated(host)
  flush(error_unit)
  error stop 2
end program fail_err_extract_rank6_wide
