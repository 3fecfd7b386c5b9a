! EXPECT: WARNING: Output data rank mismatch, expected rank 3.*extract returned: output shape = 6 2
!> extract of a per-sample [2, 3] array (rank 3 with the batch) into a rank-2 host array: a
!> WARNING on stderr, and the values are extracted as (E, S); the program goes on (this program
!> then stops itself).
program fail_err_extract_rank_mismatch
  use diffstruc
  use, intrinsic :: iso_fortran_env, only: error_unit
  implicit none
  type(array_type) :: x
  real, allocatable :: host(:, :)
  call x%allocate([2, 3, 2], source=1.0)
  call x%extract(host)
  write(error_unit, '(a, 2(1x, i0))') 'extract returned: output shape =', shape(host)
  flush(error_unit)
  error stop 2
end program fail_err_extract_rank_mismatch
