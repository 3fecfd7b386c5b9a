! EXPECT: ERROR: grad_reverse: seed has 3 values, the result has 2 \(\[2\] with batch 1\)
!> The reverse-mode seed is `f%grad%val`: a gradient object the program allocated itself with
!> the wrong shape (3 values for a result of 2) stops grad_reverse.
program fail_err_seed_length
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  call x%allocate([2, 1], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => x * x
  allocate(f%grad)
  call f%grad%allocate([3, 1], source=1.0)
  call f%grad_reverse()
  ! not reached
  write(*, *) 'no error for a seed of 3 values:', x%grad%val
end program fail_err_seed_length
