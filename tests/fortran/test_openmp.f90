!> OpenMP: every iteration of a parallel loop builds and differentiates its own graph (matmul,
!> broadcasting, tanh/sigmoid/exp, concat/pack/spread/merge, a custom operation written with
!> diffstruc's pattern, reductions; forward mode to second order, reverse mode, reverse over
!> forward) in a contained subroutine, so its array_type variables are private to the thread.
!> Every iteration also reads one shared constant (a weight with requires_grad false). The
!> results must equal those of the same iterations run serially, bit for bit, every thread of
!> the team must have taken part, and no array may be left alive. The inputs are computed once,
!> before both runs, and given to both: computed in each loop, they could differ in the last bit
!> (at -O3 gfortran vectorises `sin` in one loop and not in the other).
!>
!> Built only when CMake finds OpenMP for the Fortran compiler (see CMakeLists.txt). Under
!> valgrind (detected from LD_PRELOAD) fewer iterations run.
module omp_cube
  use diffstruc
  implicit none
  private
  public :: cube

  real(real32), parameter :: c = 0.5

contains

  !> c * a**3 as a custom operation.
  function cube(a) result(r)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: r
    r => a%create_result()
    r%val = c * a%val**3
    r%get_partial_left => cube_partial
    r%get_partial_left_val => cube_partial_val
    if (a%requires_grad) then
       r%requires_grad = .true.
       r%is_forward = a%is_forward
       r%operation = 'cube'
       r%left_operand => a
       r%owns_left_operand = a%is_temporary
    end if
  end function cube

  !> Forward rule: upstream * 3c a**2, built from differentiable operations.
  function cube_partial(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    logical :: was_temporary
    was_temporary = this%left_operand%is_temporary
    this%left_operand%is_temporary = .false.
    ptr => upstream_grad * (3.0 * c) * this%left_operand**2
    this%left_operand%is_temporary = was_temporary
    call output%assign_and_deallocate_source(ptr)
  end function cube_partial

  pure subroutine cube_partial_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    output = upstream_grad * 3.0 * c * this%left_operand%val**2
  end subroutine cube_partial_val

end module omp_cube

program test_openmp
  use, intrinsic :: iso_fortran_env, only: int32
  use diffstruc
  use omp_cube, only: cube
  use test_utils, only: check, finish
  !$ use omp_lib, only: omp_get_thread_num, omp_get_num_threads
  implicit none
  integer, parameter :: batch = 3, nx = 4 * batch
  !> loss, d1, d2, gradients of x, w and b, reverse over forward gradient of x
  integer, parameter :: n_out = 3 + nx + 20 + 5 + nx
  !> inputs of one iteration: x, its direction, w, b
  integer, parameter :: n_in = nx + 4 + 20 + 5
  type(array_type) :: s
  real(real32) :: s_init(16)
  real(real32), allocatable :: inputs(:,:), serial(:,:), parallel(:,:)
  integer, allocatable :: thread_of(:)
  integer :: n_iter, i, live_start, team, differ
  character(len=256) :: preload

  n_iter = 2000
  call get_environment_variable('LD_PRELOAD', preload)
  if (index(preload, 'vgpreload') > 0) n_iter = 48
  allocate(inputs(n_in, n_iter), serial(n_out, n_iter), parallel(n_out, n_iter), &
       thread_of(n_iter))
  do i = 1, n_iter
     inputs(:, i) = [values(nx, -1.5, 1.5, i), values(4, -1.0, 1.0, i + 101), &
          values(20, -0.8, 0.8, i + 202), values(5, -0.5, 0.5, i + 303)]
  end do

  ! the shared constant: [4, 4], one sample for the whole batch, no gradient
  s_init = values(16, -1.0, 1.0, 7)
  call s%allocate([4, 4, 1])
  s%val(:, 1) = s_init
  s%is_sample_dependent = .false.
  s%is_temporary = .false.
  live_start = diffstruc_live_arrays()

  do i = 1, n_iter
     call compute(inputs(:, i), serial(:, i))
  end do
  call check(diffstruc_live_arrays() == live_start, 'serial run: no array left alive')
  call check(any(bits(serial(:, 1)) /= bits(serial(:, 2))), 'different inputs, different results')
  call check(all(serial(:, 1) == serial(:, 1)), 'results are not NaN')

  team = 1
  thread_of = -1
  !$omp parallel do num_threads(4) schedule(static, 1) default(shared) private(i)
  do i = 1, n_iter
     call compute(inputs(:, i), parallel(:, i))
     thread_of(i) = 0
     !$ thread_of(i) = omp_get_thread_num()
     !$ if (i == 1) team = omp_get_num_threads()
  end do
  !$omp end parallel do

  differ = count([(any(bits(serial(:, i)) /= bits(parallel(:, i))), i = 1, n_iter)])
  if (differ > 0) write(*, '(a, i0, a, i0)') '  iterations that differ: ', differ, ' of ', n_iter
  call check(differ == 0, 'parallel results equal the serial ones bit for bit')
  write(*, '(a, i0, a)') ' OpenMP team of ', team, ' threads'
  call check(team >= 2, 'the loop ran on several threads')
  call check(all(thread_of >= 0 .and. thread_of < team), 'every iteration ran')
  call check(all([(any(thread_of == i), i = 0, min(team, n_iter) - 1)]), &
       'every thread of the team ran iterations')
  call check(diffstruc_live_arrays() == live_start, 'parallel run: no array left alive')
  call check(all(bits(s%val(:, 1)) == bits(s_init)), 'the shared constant is unchanged')
  call check(.not. s%requires_grad, 'the shared constant requires no gradient')

  call s%deallocate()
  deallocate(inputs, serial, parallel, thread_of)
  call check(diffstruc_live_arrays() == 0, 'everything released')
  call finish()

contains

  !> Deterministic pseudo-random values in [lo, hi].
  function values(n, lo, hi, seed) result(v)
    integer, intent(in) :: n, seed
    real, intent(in) :: lo, hi
    real(real32) :: v(n)
    integer :: k
    do k = 1, n
       v(k) = lo + (hi - lo) * (0.5 + 0.5 * sin(12.9898 * real(k) + 78.233 * real(seed)))
    end do
  end function values

  !> The bit patterns of real values, to compare them exactly.
  function bits(v) result(b)
    real(real32), intent(in) :: v(:)
    integer(int32) :: b(size(v))
    b = transfer(v, 0_int32, size(v))
  end function bits

  !> One graph, built and differentiated: every array_type here is local to the call (and so
  !> to the thread that runs it).
  subroutine compute(input, out)
    real(real32), intent(in) :: input(:)
    real(real32), intent(out) :: out(:)
    type(array_type) :: x, w, b
    type(array_type), pointer :: f, d1, d2, h, e, q
    logical :: mask(5, batch)
    integer :: k

    call x%allocate([4, batch])
    x%val = reshape(input(1:nx), [4, batch])
    x%is_temporary = .false.
    call x%set_requires_grad(.true.)
    call x%set_direction(input(nx + 1:nx + 4))
    call w%allocate([5, 4, 1])
    w%val(:, 1) = input(nx + 5:nx + 24)
    w%is_sample_dependent = .false.
    w%is_temporary = .false.
    call w%set_requires_grad(.true.)
    call b%allocate([5, 1])
    b%val(:, 1) = input(nx + 25:nx + 29)
    b%is_sample_dependent = .false.
    b%is_temporary = .false.
    call b%set_requires_grad(.true.)
    do k = 0, 5 * batch - 1
       mask(mod(k, 5) + 1, k / 5 + 1) = mod(k, 3) /= 1
    end do

    ! h, e and q are used twice: the program keeps them (is_temporary false) and frees them
    h => tanh(matmul(w, matmul(s, x)) + b)
    h%is_temporary = .false.
    e => exp(x * 0.5)
    e%is_temporary = .false.
    q => cube(merge(pack(concat(sigmoid(h), e), [1, 3, 5, 7, 9], 1), spread(x, 1, 2, 5), &
         mask)) * h
    q%is_temporary = .false.
    f => sum(q) + 0.25 * sum(mean(pack(q, 2, mask=[.true., .false., .true.]), 2)) + &
         mean(sum(e, 1))

    d1 => f%grad_forward(x)
    d2 => d1%grad_forward(x)
    call f%grad_reverse()
    out(1) = f%val(1, 1)
    out(2) = d1%val(1, 1)
    out(3) = d2%val(1, 1)
    out(4:3 + nx) = reshape(x%grad%val, [nx])
    out(4 + nx:23 + nx) = w%grad%val(:, 1)
    out(24 + nx:28 + nx) = b%grad%val(:, 1)
    call x%zero_grad()
    call d1%grad_reverse()
    out(29 + nx:28 + 2 * nx) = reshape(x%grad%val, [nx])

    deallocate(d2, d1, f, q, e, h)
    call x%deallocate()
    call w%deallocate()
    call b%deallocate()
  end subroutine compute

end program test_openmp
