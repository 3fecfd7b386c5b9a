!> Linear algebra from Fortran: matmul / .mmul. in every form, dot_product / .dot.,
!> outer_product / .outer., transpose; values, reverse and forward derivatives against closed
!> forms; the intrinsics of the same names still work on plain arrays.
program test_linalg
  use diffstruc
  use test_utils, only: check, check_close, finish
  implicit none
  real(real32), parameter :: TOL = 1.0e-5
  real(real32) :: wm(2, 3), xs(3, 2)
  type(array_type) :: w, x, u, v
  type(array_type), pointer :: y, s, dy, d, o, t, a, b
  integer :: live

  live = diffstruc_live_arrays()
  wm = reshape([1.0, 4.0, 2.0, 5.0, 3.0, 6.0], [2, 3])       ! [[1 2 3], [4 5 6]]
  xs = reshape([1.0, 0.0, -1.0, 2.0, 1.0, 0.0], [3, 2])      ! two samples of 3
  call w%allocate([2, 3, 1])
  w%val(:, 1) = reshape(wm, [6])
  w%is_sample_dependent = .false.
  w%is_temporary = .false.
  call w%set_requires_grad(.true.)
  call x%allocate(source=xs)
  x%is_temporary = .false.
  call x%set_requires_grad(.true.)

  ! shared matrix times a batch of vectors
  y => w .mmul. x
  y%is_temporary = .false.   ! kept and deallocated below, so not owned by sum(y)
  call check_close(y%val(:, 1), [-2.0, -2.0], TOL, 'W .mmul. x: sample 1')
  call check_close(y%val(:, 2), [4.0, 13.0], TOL, 'W .mmul. x: sample 2')
  call check(size(y%shape) == 1 .and. y%shape(1) == 2, 'W .mmul. x: shape [2]')
  s => sum(y)
  call s%grad_reverse()
  call check_close(reshape(w%grad%val, [6]), [3.0, 3.0, 1.0, 1.0, -1.0, -1.0], TOL, &
       'd sum(W x)/dW = sum_s x_s^T')
  call check_close(x%grad%val(:, 1), [5.0, 7.0, 9.0], TOL, 'd sum(W x)/dx = W^T 1')
  dy => y%grad_forward(x)
  call check_close(dy%val(:, 2), [6.0, 15.0], TOL, 'forward: W . ones')
  call s%nullify_graph()
  deallocate(s, dy)
  deallocate(y)
  ! the same product through the generic name and with the real-matrix forms
  y => matmul(w, x)
  a => matmul(x, transpose(wm))
  b => matmul(wm, x)
  call check_close(a%val(:, 2), y%val(:, 2), TOL, 'matmul(x, real W^T) = W x')
  call check_close(b%val(:, 2), y%val(:, 2), TOL, 'matmul(real W, x) = W x')
  deallocate(y, a, b)
  ! the intrinsics on plain arrays are untouched
  call check_close(reshape(matmul(wm, xs), [4]), [-2.0, -2.0, 4.0, 13.0], TOL, &
       'intrinsic matmul still works')
  call check(dot_product([1.0, 2.0], [3.0, 4.0]) == 11.0, 'intrinsic dot_product still works')

  ! vector products and transpose
  call u%allocate([3, 1]); call u%set([1.0, 2.0, 3.0]); u%is_temporary = .false.
  call v%allocate([3, 1]); call v%set([4.0, 5.0, 6.0]); v%is_temporary = .false.
  call u%set_requires_grad(.true.)
  d => u .dot. v
  call check_close(d%val(1, 1), 32.0, TOL, 'u .dot. v')
  call d%grad_reverse()
  call check_close(u%grad%val(:, 1), [4.0, 5.0, 6.0], TOL, 'd(u.v)/du = v')
  o => outer_product(u, v)
  call check(all(o%shape == [3, 3]), 'outer_product: shape [3, 3]')
  call check_close(o%val(:, 1), [4.0, 8.0, 12.0, 5.0, 10.0, 15.0, 6.0, 12.0, 18.0], TOL, &
       'outer_product values')
  t => transpose(w)
  call check(all(t%shape == [3, 2]), 'transpose: shape [3, 2]')
  call check_close(t%val(:, 1), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], TOL, 'transpose values')
  call d%nullify_graph()
  deallocate(d, o, t)
  call w%deallocate(); call x%deallocate(); call u%deallocate(); call v%deallocate()
  call check(diffstruc_live_arrays() == live, 'memory returned')
  call finish()
end program test_linalg
