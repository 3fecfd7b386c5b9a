!> Comparisons (.lt. .le. .gt. .ge.), maxval, and array * logical mask (values, reverse and
!> forward derivatives, the mask kept on the result, the operation name).
program test_masks
  use diffstruc
  use test_utils, only: check, check_close, finish
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: y, s, dy
  logical, allocatable :: m(:,:)
  real(real32), allocatable :: mx(:)
  integer :: live

  live = diffstruc_live_arrays()
  call x%allocate(source=reshape([1.0, -2.0, 3.0, 0.5, 5.0, -1.0], [3, 2]))
  x%is_temporary = .false.
  call x%set_requires_grad(.true.)

  m = x .gt. 0.9
  call check(all(m .eqv. reshape([.true., .false., .true., .false., .true., .false.], [3, 2])), &
       'x .gt. 0.9')
  call check(count(x .lt. 0.0) == 2 .and. count(x .le. 0.5) == 3 .and. count(x .ge. 1.0) == 3, &
       '.lt. .le. .ge. counts')
  mx = maxval(x, dim=1)
  call check_close(mx, [3.0, 5.0], 0.0, 'maxval(x, dim=1): per sample')
  mx = maxval(x, dim=2)
  call check_close(mx, [1.0, 5.0, 3.0], 0.0, 'maxval(x, dim=2): per element over the batch')

  y => x * m
  y%is_temporary = .false.
  call check(trim(y%operation) == 'multiply_logical', 'x * mask: operation name')
  call check(allocated(y%mask), 'x * mask: mask kept')
  call check_close(y%val(:, 1), [1.0, 0.0, 3.0], 0.0, 'x * mask: values, sample 1')
  call check_close(y%val(:, 2), [0.0, 5.0, 0.0], 0.0, 'x * mask: values, sample 2')
  s => sum(y)
  call s%grad_reverse()
  call check_close(reshape(x%grad%val, [6]), [1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 0.0, &
       'd sum(x * mask)/dx = mask')
  dy => y%grad_forward(x)
  call check_close(reshape(dy%val, [6]), [1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 0.0, &
       'forward: d(x * mask) . ones = mask')
  call s%nullify_graph()
  deallocate(s, dy, y)
  call x%deallocate()
  deallocate(m, mx)
  call check(diffstruc_live_arrays() == live, 'memory returned')
  call finish()
end program test_masks
