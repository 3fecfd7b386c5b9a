!> The thread setting (an extension): diffstruc_set_num_threads / diffstruc_get_num_threads,
!> element-wise values and gradients bit-identical with 1 and 2 threads, a matrix product equal
!> to within rounding, and a refused setting reported through `stat`.
program test_threads
  use diffstruc
  use test_utils
  implicit none
  integer, parameter :: e = 1000, s = 300
  real(real32), allocatable :: f1(:,:), g1(:,:), m1(:,:), f2(:,:), g2(:,:), m2(:,:)
  integer :: stat

  call check(diffstruc_get_num_threads() >= 1, 'a thread count')
  call diffstruc_set_num_threads(1)
  call check(diffstruc_get_num_threads() == 1, 'set to 1')
  call run(f1, g1, m1)
  call diffstruc_set_num_threads(2)
  call check(diffstruc_get_num_threads() == 2, 'set to 2')
  call run(f2, g2, m2)
  call check(all(transfer(f1, [0]) == transfer(f2, [0])), &
       'values: same bits with 2 threads')
  call check(all(g1 == g2), 'gradients: the same with 2 threads')
  call check(maxval(abs(m1 - m2) / max(abs(m1), 1.0)) <= 1e-6, 'matmul: equal within rounding')

  call diffstruc_set_num_threads(0, stat)
  call check(stat /= 0, 'zero threads refused through stat')
  call check(diffstruc_get_num_threads() == 2, 'a refused setting changes nothing')
  call diffstruc_set_num_threads(1, stat)
  call check(stat == 0 .and. diffstruc_get_num_threads() == 1, 'back to 1')
  deallocate(f1, g1, m1, f2, g2, m2)
  call finish()
contains
  !> f = sin(x*y + exp(0.3 x)) on 3e5 values, its gradient by reverse mode, and a product of
  !> the MLP workload's first-layer shapes.
  subroutine run(f, g, m)
    real(real32), allocatable, intent(out) :: f(:,:), g(:,:), m(:,:)
    type(array_type) :: x, y, w, b
    type(array_type), pointer :: h, l, p
    integer :: i, j
    call x%allocate([e, s])
    call y%allocate([e, s])
    do j = 1, s
       do i = 1, e
          x%val(i, j) = sin(real(i + 7 * j)) * 2.0
          y%val(i, j) = 1.5 + cos(real(3 * i - j))
       end do
    end do
    call x%set_requires_grad(.true.)
    h => sin(x * y + exp(x * 0.3))
    l => sum(h, dim=2)
    call l%grad_reverse()
    f = h%val
    g = x%grad%val
    call w%allocate([256, 784, 1])
    call b%allocate([784, 128])
    do j = 1, 784
       do i = 1, 256
          w%val(i + 256 * (j - 1), 1) = 0.01 * sin(real(i * j))
       end do
    end do
    b%val = 0.5
    p => w .mmul. b
    m = p%val
    call l%nullify_graph()
    call p%nullify_graph()
    call x%deallocate()
    call y%deallocate()
    call w%deallocate()
    call b%deallocate()
  end subroutine run
end program test_threads
