!> The optional `stat` argument (an extension) of allocate, set_direction, grad_forward and
!> grad_reverse: an error returns a DS_ERR_* status (3 shape, 4 argument, 5 no gradient) and
!> the program carries on with its objects intact; success returns 0.
program test_stat
  use diffstruc
  use test_utils, only: check, check_close, finish
  implicit none
  type(array_type) :: x, u
  type(array_type), pointer :: f, df
  integer :: ierr, live

  live = diffstruc_live_arrays()
  call x%allocate([2, 1], source=3.0, stat=ierr)
  call check(ierr == 0, 'allocate: stat 0 on success')
  call x%allocate([2, 1], source=1.0, stat=ierr)
  call check(ierr == 4, 'allocate twice: DS_ERR_ARGUMENT')
  call check(all(x%val == 3.0), 'allocate twice: values kept')
  call u%allocate(stat=ierr)
  call check(ierr == 4 .and. .not. u%allocated, 'allocate without shape or source')
  call u%allocate([2, 0], stat=ierr)
  call check(ierr == 0 .and. u%allocated, 'allocate with batch 0: an empty array, stat 0')
  call u%grad_reverse(stat=ierr)
  call check(ierr == 4, 'grad_reverse of an empty array: DS_ERR_ARGUMENT')
  call u%deallocate()
  call u%allocate([-2, 1], stat=ierr)
  call check(ierr == 4 .and. .not. u%allocated, 'allocate with a negative extent: DS_ERR_ARGUMENT')

  call x%set_direction([1.0, 2.0, 3.0], stat=ierr)
  call check(ierr == 3, 'set_direction of the wrong size: DS_ERR_SHAPE')
  call x%set_direction([1.0, 0.0], stat=ierr)
  call check(ierr == 0, 'set_direction: stat 0')

  f => x**2
  df => f%grad_forward(x, stat=ierr)
  call check(ierr == 5 .and. .not. associated(df), &
       'grad_forward without requires_grad: DS_ERR_NO_GRAD and a null result')
  deallocate(f)

  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => x**2
  df => f%grad_forward(x, stat=ierr)
  call check(ierr == 0 .and. associated(df), 'grad_forward: stat 0')
  if (associated(df)) call check_close(df%val(:, 1), [6.0, 0.0], 1e-6, 'grad_forward: value')
  call f%grad_reverse(stat=ierr)
  call check(ierr == 0, 'grad_reverse: stat 0')
  call check_close(x%grad%val(:, 1), [6.0, 6.0], 1e-6, 'grad_reverse: value')
  call u%grad_reverse(stat=ierr)
  call check(ierr == 4, 'grad_reverse of an unallocated array: DS_ERR_ARGUMENT')

  deallocate(df, f)
  call x%deallocate()
  call check(diffstruc_live_arrays() == live, 'no array left alive')
  call finish()
end program test_stat
