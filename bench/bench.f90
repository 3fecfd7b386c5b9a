!> bench.f90 -- the benchmark workloads W1, W2, W3, W4 and W7 through the Fortran module
!> `diffstruc`, written as a diffstruc program writes them (not a test). The workloads are those
!> of ../shared/workloads.md and of bench.c, which runs them through the C ABI:
!>
!>   W1 elementwise-reverse   f => x**2 + y*x + exp(x*0.01), x and y [1000] x batch 100;
!>                            f%grad_reverse(), read x%grad and y%grad, zero_grad, release f
!>   W2 forward-second-order  the same f, df => f%grad_forward(x), d2f => df%grad_forward(x);
!>                            read both, release the three
!>   W3 scalar-overhead       f => x**3 + 2.0*x**2 + x - 5.0 on one number, df => grad_forward
!>   W4 mlp-train-step        h => tanh(matmul(w1, x) + b1), y => matmul(w2, h) + b2,
!>                            loss => mean((y - t)**2); reverse, SGD through %val (lr 0.01),
!>                            zero_grad; w1 [256,784], w2 [10,256], x [784] x batch 128
!>   W7 hessian               f => sum(tanh(x)**2 * x), x [64]: for each i, set_direction(e_i),
!>                            d1 => f%grad_forward(x), d1%grad_reverse() leaves row i in x%grad
!>
!> In-run reference for the module's own cost: W3 also runs as the same calls made directly
!> through the C ABI from Fortran (module diffstruc_c, the module's raw bind(c) layer), and an
!> empty ABI call, interleaved per repetition; the ratio module / C ABI is taken per repetition.
!>
!> Output as bench.c's: rows `name median min max unit` (11 repetitions, 5 with --quick, 1 with
!> --smoke, which only checks that everything runs and every result is right), a `ratios`
!> section and a `targets` section (measured median / target, <= 1 meets it). Times come from
!> system_clock with int64 counts. Results are checked once per workload against closed forms
!> (W4: against the same network computed in double precision here). Exit status: 0, or 1 if a
!> check failed or arrays are left alive, or 2 if a C ABI call failed.
program bench_fortran
  use, intrinsic :: iso_fortran_env, only: int64, real64, error_unit
  use, intrinsic :: iso_c_binding, only: c_ptr, c_int, c_int32_t, c_int64_t, c_size_t, c_float, c_double, &
       c_f_pointer
  use diffstruc
  use diffstruc_c, only: DS_OK, DS_ADD, DS_SUB, DS_MUL, DS_POW, ds_array_full, &
       ds_array_set_flags, ds_array_free, ds_array_data, ds_binary, ds_binary_scalar, &
       ds_scalar_binary, ds_grad_forward, ds_live_handles
  implicit none

  integer, parameter :: MAX_REPS = 32, MAX_RATIOS = 4
  integer, parameter :: FULL = 0, QUICK = 1, SMOKE = 2
  integer, parameter :: NAME_LEN = 44

  type :: samples
     real(real64) :: v(MAX_REPS) = 0
     integer :: n = 0
  end type samples

  integer :: mode = FULL, reps = 11, n_ratios = 0, i_arg
  logical :: checks_ok = .true.
  character(len=32) :: arg
  character(len=NAME_LEN) :: ratio_names(MAX_RATIOS)
  type(samples) :: ratio_samples(MAX_RATIOS)
  !> Results for the targets section (-1: not measured).
  real(real64) :: t_w1 = -1, t_w2 = -1, t_w3 = -1, t_w3_ratio = -1, t_w4 = -1, t_w7 = -1
  !> Sink for values read from the library, so the reads are not optimised away.
  real(real64), volatile :: sink

  do i_arg = 1, command_argument_count()
     call get_command_argument(i_arg, arg)
     select case (trim(arg))
     case ('--quick')
        mode = QUICK
        reps = 5
     case ('--smoke')
        mode = SMOKE
        reps = 1
     case default
        write(error_unit, '(a)') 'usage: bench_fortran [--quick | --smoke]'
        stop 2
     end select
  end do

  select case (mode)
  case (FULL)
     write(*, '(a, i0, a)') '# diffstruc benchmark, Fortran module (full): ', reps, &
          ' repetitions per row'
  case (QUICK)
     write(*, '(a, i0, a)') '# diffstruc benchmark, Fortran module (quick): ', reps, &
          ' repetitions per row'
  case default
     write(*, '(a, i0, a)') '# diffstruc benchmark, Fortran module (smoke: checks only, times ' &
          // 'mean nothing): ', reps, ' repetitions per row'
  end select
  call header('median', 'min', 'max')
  call w1_w2()
  call w4()
  call w3()
  call w7()

  write(*, '(/, a)') '# ratios: library / in-run reference, median of the per-repetition ratios'
  call header('median', 'min', 'max')
  do i_arg = 1, n_ratios
     sink = row(ratio_names(i_arg), ratio_samples(i_arg), 'ratio')
  end do

  write(*, '(/, a)') '# targets (1 thread): measured median / target (<= 1 meets it)'
  call header('measured', 'target', 'ratio')
  call target('W1 elementwise-reverse', t_w1, 150.0_real64, 'us/iteration')
  call target('W1 elementwise-reverse (stretch)', t_w1, 120.0_real64, 'us/iteration')
  call target('W2 forward-second-order', t_w2, 200.0_real64, 'us/iteration')
  call target('W3 scalar-overhead', t_w3, 2000.0_real64, 'ns/iteration')
  call target('W3 module / C ABI (the module''s own cost)', t_w3_ratio, 2.0_real64, 'ratio')
  call target('W4 mlp-train-step', t_w4, 0.70_real64, 'ms/step')
  call target('W7 hessian 64x64', t_w7, 1.0_real64, 'ms/hessian')

  call diffstruc_release_retired()
  if (diffstruc_live_arrays() /= 0) then
     write(error_unit, '(a, i0, a)') 'leak: ', diffstruc_live_arrays(), ' arrays alive'
     error stop 1
  end if
  if (.not. checks_ok) then
     write(error_unit, '(a)') 'bench_fortran: a result check failed'
     error stop 1
  end if

contains

  ! ---- harness ----------------------------------------------------------------------------

  function now_us() result(t)
    real(real64) :: t
    integer(int64) :: ticks, rate
    call system_clock(ticks, rate)
    t = real(ticks, real64) * 1.0e6_real64 / real(rate, real64)
  end function now_us

  !> An iteration count for the current mode.
  integer function count_for(full_count, quick_count, smoke_count)
    integer, intent(in) :: full_count, quick_count, smoke_count
    select case (mode)
    case (FULL)
       count_for = full_count
    case (QUICK)
       count_for = quick_count
    case default
       count_for = smoke_count
    end select
  end function count_for

  subroutine check(ok, what)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: what
    if (.not. ok) then
       write(error_unit, '(a)') 'CHECK FAILED: ' // what
       checks_ok = .false.
    end if
  end subroutine check

  logical function close_to(got, want, rel)
    real(real64), intent(in) :: got, want, rel
    close_to = abs(got - want) <= rel * (1.0_real64 + abs(want))
  end function close_to

  !> Stops with status 2 if a C ABI call failed.
  subroutine ck(status, what)
    integer(c_int), intent(in) :: status
    character(len=*), intent(in) :: what
    if (status /= DS_OK) then
       write(error_unit, '(a, a, i0)') what, ' failed with status ', status
       error stop 2
    end if
  end subroutine ck

  subroutine add(s, v)
    type(samples), intent(inout) :: s
    real(real64), intent(in) :: v
    if (s%n < MAX_REPS) then
       s%n = s%n + 1
       s%v(s%n) = v
    end if
  end subroutine add

  subroutine add_ratio(name, s)
    character(len=*), intent(in) :: name
    type(samples), intent(in) :: s
    if (n_ratios < MAX_RATIOS) then
       n_ratios = n_ratios + 1
       ratio_names(n_ratios) = name
       ratio_samples(n_ratios) = s
    end if
  end subroutine add_ratio

  subroutine header(c1, c2, c3)
    character(len=*), intent(in) :: c1, c2, c3
    character(len=NAME_LEN) :: name
    name = 'name'
    write(*, '(a, 3(1x, a14), 2x, a)') name, adjustr([character(len=14) :: c1, c2, c3]), 'unit'
  end subroutine header

  !> Prints one row (sorting the samples) and returns the median.
  function row(name, s, unit) result(median)
    character(len=*), intent(in) :: name, unit
    type(samples), intent(inout) :: s
    real(real64) :: median, t
    character(len=NAME_LEN) :: padded
    integer :: i, j
    do i = 2, s%n
       t = s%v(i)
       j = i - 1
       do while (j >= 1)
          if (s%v(j) <= t) exit
          s%v(j + 1) = s%v(j)
          j = j - 1
       end do
       s%v(j + 1) = t
    end do
    if (mod(s%n, 2) == 1) then
       median = s%v(s%n / 2 + 1)
    else
       median = 0.5_real64 * (s%v(s%n / 2) + s%v(s%n / 2 + 1))
    end if
    padded = name
    write(*, '(a, 3(1x, f14.3), 2x, a)') padded, median, s%v(1), s%v(s%n), unit
  end function row

  subroutine target(name, value, goal, unit)
    character(len=*), intent(in) :: name, unit
    real(real64), intent(in) :: value, goal
    character(len=NAME_LEN) :: padded
    padded = name
    if (value < 0) then
       write(*, '(a, 1x, a14, 1x, f14.3, 1x, a14, 2x, a)') padded, 'not measured', goal, &
            '-', unit
    else if (value <= goal) then
       write(*, '(a, 3(1x, f14.3), 2x, a)') padded, value, goal, value / goal, unit
    else
       write(*, '(a, 3(1x, f14.3), 2x, a)') padded, value, goal, value / goal, &
            unit // '  (missed)'
    end if
  end subroutine target

  !> A variable the program owns: values, then requires_grad.
  subroutine new_variable(x, values, sample_dependent)
    type(array_type), intent(inout) :: x
    real(real32), intent(in) :: values(:,:)
    logical, intent(in) :: sample_dependent
    call x%allocate([size(values, 1), size(values, 2)])
    x%val = values
    x%is_sample_dependent = sample_dependent
    call x%set_requires_grad(.true.)
    x%is_temporary = .false.
  end subroutine new_variable

  ! ---- W1 elementwise-reverse and W2 forward-second-order ----------------------------------

  !> Returns x%grad and y%grad at (2, 1).
  function w1_iteration(x, y) result(g)
    type(array_type), intent(inout), target :: x, y
    real(real64) :: g(2)
    type(array_type), pointer :: f
    f => x**2 + y*x + exp(x*0.01)
    call f%grad_reverse()
    g = [real(x%grad%val(2, 1), real64), real(y%grad%val(2, 1), real64)]
    call x%zero_grad()
    call y%zero_grad()
    call f%nullify_graph()
    deallocate(f)
  end function w1_iteration

  !> Returns df and d2f at (2, 1).
  function w2_iteration(x, y) result(d)
    type(array_type), intent(inout), target :: x, y
    real(real64) :: d(2)
    type(array_type), pointer :: f, df, d2f
    f => x**2 + y*x + exp(x*0.01)
    df => f%grad_forward(x)
    d2f => df%grad_forward(x)
    d = [real(df%val(2, 1), real64), real(d2f%val(2, 1), real64)]
    call f%nullify_graph()
    call df%nullify_graph()
    call d2f%nullify_graph()
    deallocate(f, df, d2f)
  end function w2_iteration

  subroutine w1_w2()
    integer, parameter :: E = 1000, S = 100
    type(array_type), target :: x, y
    real(real32), allocatable :: xv(:,:), yv(:,:)
    real(real64) :: g(2), d(2), x1, y1, dfdx, d2fdx2, t0
    type(samples) :: s1, s2
    integer :: i, j, k, iters, rep
    allocate(xv(E, S), yv(E, S))
    do j = 1, S
       do i = 1, E
          k = (i - 1) + E * (j - 1)
          xv(i, j) = real(mod(k, 2001) - 1000, real32) / 1000.0
          yv(i, j) = real(mod(k, 7), real32) * 0.25 - 0.75
       end do
    end do
    call new_variable(x, xv, .true.)
    call new_variable(y, yv, .true.)

    ! correctness once: df/dx = 2x + y + 0.01 exp(0.01 x), df/dy = x, d2f/dx2 = 2 + 1e-4 exp(0.01 x)
    x1 = xv(2, 1)
    y1 = yv(2, 1)
    dfdx = 2 * x1 + y1 + 0.01_real64 * exp(0.01_real64 * x1)
    d2fdx2 = 2 + 1.0e-4_real64 * exp(0.01_real64 * x1)
    g = w1_iteration(x, y)
    call check(close_to(g(1), dfdx, 1.0e-5_real64) .and. close_to(g(2), x1, 1.0e-6_real64), &
         'W1 gradient')
    d = w2_iteration(x, y)
    call check(close_to(d(1), dfdx, 1.0e-5_real64) .and. close_to(d(2), d2fdx2, 1.0e-5_real64), &
         'W2 first and second derivative')

    iters = count_for(200, 50, 2)
    do i = 1, count_for(20, 20, 1)
       g = w1_iteration(x, y)
    end do
    do rep = 1, reps
       t0 = now_us()
       do i = 1, iters
          g = w1_iteration(x, y)
       end do
       call add(s1, (now_us() - t0) / iters)
       sink = g(1) + g(2)
    end do
    t_w1 = row('W1 elementwise-reverse [1000]x100', s1, 'us/iteration')

    iters = count_for(100, 25, 2)
    do i = 1, count_for(10, 10, 1)
       d = w2_iteration(x, y)
    end do
    do rep = 1, reps
       t0 = now_us()
       do i = 1, iters
          d = w2_iteration(x, y)
       end do
       call add(s2, (now_us() - t0) / iters)
       sink = d(1) + d(2)
    end do
    t_w2 = row('W2 forward-second-order [1000]x100', s2, 'us/iteration')
    call x%deallocate()
    call y%deallocate()
  end subroutine w1_w2

  ! ---- W4 mlp-train-step -------------------------------------------------------------------

  !> One step: forward, reverse, SGD through %val, zero_grad. Returns the loss; with gb2, also
  !> b2's gradient (before the update).
  function w4_step(w1, b1, w2, b2, x, t, gb2) result(l)
    type(array_type), intent(inout), target :: w1, b1, w2, b2, x, t
    real(real32), intent(out), optional :: gb2(:)
    real(real64) :: l
    type(array_type), pointer :: h, y, loss
    h => tanh(matmul(w1, x) + b1)
    y => matmul(w2, h) + b2
    loss => mean((y - t)**2)
    call loss%grad_reverse()
    l = loss%val(1, 1)
    if (present(gb2)) gb2 = b2%grad%val(:, 1)
    call sgd(w1)
    call sgd(b1)
    call sgd(w2)
    call sgd(b2)
    call loss%nullify_graph()
    deallocate(loss)
  end function w4_step

  subroutine sgd(p)
    type(array_type), intent(inout) :: p
    p%val = p%val - 0.01 * p%grad%val
    call p%zero_grad()
  end subroutine sgd

  !> Deterministic values scale * sin(freq * k), k = 0, 1, ... in storage order.
  subroutine fill(v, scale, freq)
    real(real32), intent(out) :: v(:,:)
    real(real32), intent(in) :: scale, freq
    integer :: i, j
    do j = 1, size(v, 2)
       do i = 1, size(v, 1)
          v(i, j) = scale * sin(freq * real((i - 1) + size(v, 1) * (j - 1), real32))
       end do
    end do
  end subroutine fill

  subroutine w4()
    integer, parameter :: N_IN = 784, N_HID = 256, N_OUT = 10, N_BATCH = 128
    type(array_type), target :: w1, b1, w2, b2, x, t
    real(real32), allocatable :: w1v(:,:), b1v(:,:), w2v(:,:), b2v(:,:), xv(:,:), tv(:,:)
    real(real64), allocatable :: w1d(:,:), w2d(:,:), xd(:,:), hd(:,:), yd(:,:)
    real(real32) :: gb2(N_OUT)
    real(real64) :: want_loss, want_gb2(N_OUT), first, last, t0
    type(samples) :: s
    integer :: i, j, iters, rep
    logical :: ok
    allocate(w1v(N_HID * N_IN, 1), b1v(N_HID, 1), w2v(N_OUT * N_HID, 1), b2v(N_OUT, 1), &
         xv(N_IN, N_BATCH), tv(N_OUT, N_BATCH))
    call fill(w1v, 0.01, 0.37)
    call fill(b1v, 0.1, 0.37)
    call fill(w2v, 0.1, 0.37)
    call fill(b2v, 0.1, 0.37)
    call fill(xv, 0.5, 1.7)
    do j = 1, N_BATCH
       do i = 1, N_OUT
          tv(i, j) = cos(0.1 * real((i - 1) + N_OUT * (j - 1), real32)) * 0.5
       end do
    end do
    ! parameters: one sample shared by the batch; w1 and w2 of shape [rows, cols]
    call w1%allocate([N_HID, N_IN, 1])
    call w2%allocate([N_OUT, N_HID, 1])
    w1%val = w1v
    w2%val = w2v
    w1%is_sample_dependent = .false.
    w2%is_sample_dependent = .false.
    call w1%set_requires_grad(.true.)
    call w2%set_requires_grad(.true.)
    w1%is_temporary = .false.
    w2%is_temporary = .false.
    call new_variable(b1, b1v, .false.)
    call new_variable(b2, b2v, .false.)
    call x%allocate([N_IN, N_BATCH])
    call t%allocate([N_OUT, N_BATCH])
    x%val = xv
    t%val = tv
    x%is_temporary = .false.
    t%is_temporary = .false.

    ! correctness once: the loss and b2's gradient of the first step, in double precision
    w1d = reshape(real(w1v, real64), [N_HID, N_IN])
    w2d = reshape(real(w2v, real64), [N_OUT, N_HID])
    xd = real(xv, real64)
    hd = matmul(w1d, xd)
    do j = 1, N_BATCH
       hd(:, j) = tanh(hd(:, j) + b1v(:, 1))
    end do
    yd = matmul(w2d, hd)
    do j = 1, N_BATCH
       yd(:, j) = yd(:, j) + b2v(:, 1)
    end do
    want_loss = sum((yd - tv)**2) / (N_OUT * N_BATCH)
    want_gb2 = 2 * sum(yd - tv, dim=2) / (N_OUT * N_BATCH)
    first = w4_step(w1, b1, w2, b2, x, t, gb2)
    ok = close_to(first, want_loss, 1.0e-4_real64)
    do i = 1, N_OUT
       ok = ok .and. abs(gb2(i) - want_gb2(i)) <= 1.0e-4_real64 * (1.0e-2_real64 + abs(want_gb2(i)))
    end do
    call check(ok, 'W4 loss and d loss / d b2 of the first step')

    last = first
    iters = count_for(20, 5, 1)
    do rep = 1, reps
       t0 = now_us()
       do i = 1, iters
          last = w4_step(w1, b1, w2, b2, x, t)
       end do
       call add(s, (now_us() - t0) / iters / 1000)
    end do
    call check(last < first, 'W4 loss falls')
    t_w4 = row('W4 mlp-train-step 784-256-10, batch 128', s, 'ms/step')
    call w1%deallocate()
    call b1%deallocate()
    call w2%deallocate()
    call b2%deallocate()
    call x%deallocate()
    call t%deallocate()
  end subroutine w4

  ! ---- W3 scalar-overhead ------------------------------------------------------------------

  function w3_iteration(x) result(r)
    type(array_type), intent(inout), target :: x
    real(real64) :: r
    type(array_type), pointer :: f, df
    f => x**3 + 2.0*x**2 + x - 5.0
    df => f%grad_forward(x)
    r = df%val(1, 1)
    call f%nullify_graph()
    call df%nullify_graph()
    deallocate(f, df)
  end function w3_iteration

  !> The same work through the C ABI (what bench.c's W3 does).
  function w3_abi_iteration(hx) result(r)
    type(c_ptr), intent(in) :: hx
    real(real64) :: r
    type(c_ptr) :: x3, x2, t, s1, s2, f, df, p
    real(c_float), pointer :: v(:)
    call ck(ds_binary_scalar(DS_POW, hx, 3.0_c_double, x3), 'ds_binary_scalar')
    call ck(ds_binary_scalar(DS_POW, hx, 2.0_c_double, x2), 'ds_binary_scalar')
    call ck(ds_scalar_binary(DS_MUL, 2.0_c_double, x2, t), 'ds_scalar_binary')
    call ck(ds_binary(DS_ADD, x3, t, s1), 'ds_binary')
    call ck(ds_binary(DS_ADD, s1, hx, s2), 'ds_binary')
    call ck(ds_binary_scalar(DS_SUB, s2, 5.0_c_double, f), 'ds_binary_scalar')
    call ck(ds_grad_forward(f, hx, df), 'ds_grad_forward')
    call ck(ds_array_data(df, p), 'ds_array_data')
    call c_f_pointer(p, v, [1])
    r = v(1)
    call ck(ds_array_free(x3), 'ds_array_free')
    call ck(ds_array_free(x2), 'ds_array_free')
    call ck(ds_array_free(t), 'ds_array_free')
    call ck(ds_array_free(s1), 'ds_array_free')
    call ck(ds_array_free(s2), 'ds_array_free')
    call ck(ds_array_free(f), 'ds_array_free')
    call ck(ds_array_free(df), 'ds_array_free')
  end function w3_abi_iteration

  subroutine w3()
    integer, parameter :: W3_OPS = 6 ! x**3, x**2, 2.0*(.), +, +, -5.0
    type(array_type), target :: x
    type(c_ptr) :: hx
    type(samples) :: s, per_op, abi, empty, r_abi, r_empty
    real(real64) :: t0, t1, t2, t3, ns, abi_ns, empty_ns
    integer(c_size_t) :: acc
    integer :: i, iters, calls, rep
    call x%allocate([1, 1], source=1.5)
    call x%set_requires_grad(.true.)
    x%is_temporary = .false.
    call ck(ds_array_full([1_c_int64_t], 1_c_size_t, 1_c_int64_t, 1.5_c_double, hx), &
         'ds_array_full')
    call ck(ds_array_set_flags(hx, 1_c_int32_t, 1_c_int32_t), 'ds_array_set_flags')
    ! 3x^2 + 4x + 1 at 1.5
    call check(abs(w3_iteration(x) - 13.75_real64) < 1.0e-5_real64, 'W3 derivative')
    call check(abs(w3_abi_iteration(hx) - 13.75_real64) < 1.0e-5_real64, &
         'W3 derivative through the C ABI')

    iters = count_for(20000, 2000, 10)   ! fewer than bench.c: an iteration costs more here
    calls = count_for(2000000, 200000, 1000)
    do i = 1, count_for(1000, 1000, 1)
       sink = w3_iteration(x)
       sink = w3_abi_iteration(hx)
    end do
    acc = 0
    do rep = 1, reps
       t0 = now_us()
       do i = 1, iters
          sink = w3_iteration(x)
       end do
       t1 = now_us()
       do i = 1, iters
          sink = w3_abi_iteration(hx)
       end do
       t2 = now_us()
       do i = 1, calls
          acc = acc + ds_live_handles()
       end do
       t3 = now_us()
       ns = (t1 - t0) * 1000 / iters
       abi_ns = (t2 - t1) * 1000 / iters
       empty_ns = (t3 - t2) * 1000 / calls
       call add(s, ns)
       call add(per_op, ns / W3_OPS)
       call add(abi, abi_ns)
       call add(empty, empty_ns)
       call add(r_abi, ns / abi_ns)
       call add(r_empty, ns / empty_ns)
    end do
    sink = real(acc, real64)
    t_w3 = row('W3 scalar-overhead build+forward', s, 'ns/iteration')
    sink = row('W3 scalar-overhead per graph op (/6)', per_op, 'ns/op')
    sink = row('W3 reference: same calls via the C ABI', abi, 'ns/iteration')
    sink = row('ABI empty call ds_live_handles()', empty, 'ns/call')
    t_w3_ratio = median_copy(r_abi)
    call add_ratio('W3 module / same calls via the C ABI', r_abi)
    call add_ratio('W3 module / empty ABI call', r_empty)
    call ck(ds_array_free(hx), 'ds_array_free')
    call x%deallocate()
  end subroutine w3

  !> The median of a copy of the samples (without printing).
  function median_copy(s) result(m)
    type(samples), intent(in) :: s
    real(real64) :: m, v(s%n), t
    integer :: i, j
    v = s%v(1:s%n)
    do i = 2, s%n
       t = v(i)
       j = i - 1
       do while (j >= 1)
          if (v(j) <= t) exit
          v(j + 1) = v(j)
          j = j - 1
       end do
       v(j + 1) = t
    end do
    if (mod(s%n, 2) == 1) then
       m = v(s%n / 2 + 1)
    else
       m = 0.5_real64 * (v(s%n / 2) + v(s%n / 2 + 1))
    end if
  end function median_copy

  ! ---- W7 hessian --------------------------------------------------------------------------

  !> The full Hessian of f = sum(tanh(x)**2 * x): f once, then one Hessian-vector product per
  !> row by reverse over forward. hess(:, i) = d/dx of df/dx_i.
  subroutine w7_iteration(x, eye, hess)
    type(array_type), intent(inout), target :: x
    real(real32), intent(in) :: eye(:,:)
    real(real32), intent(out) :: hess(:,:)
    type(array_type), pointer :: f, d1
    integer :: i
    f => sum(tanh(x)**2 * x)
    do i = 1, size(eye, 2)
       call x%set_direction(eye(:, i))
       d1 => f%grad_forward(x)
       call d1%grad_reverse()
       hess(:, i) = x%grad%val(:, 1)
       call x%zero_grad()
       call d1%nullify_graph()
       deallocate(d1)
    end do
    call f%nullify_graph()
    deallocate(f)
  end subroutine w7_iteration

  subroutine w7()
    integer, parameter :: N = 64
    type(array_type), target :: x
    real(real32) :: xv(N, 1), eye(N, N), hess(N, N)
    real(real64) :: tt, s2, gpp, want, t0
    type(samples) :: s
    integer :: i, j, iters, rep
    logical :: ok
    eye = 0
    do i = 1, N
       xv(i, 1) = -1.5 + 3.0 * real(i - 1, real32) / (N - 1)
       eye(i, i) = 1
    end do
    call new_variable(x, xv, .true.)

    ! correctness once: f is a sum of g(x_k) = tanh(x_k)^2 x_k, so the Hessian is diagonal with
    ! g'' = 2 s^2 x - 4 t^2 s x + 4 t s, where t = tanh x and s = 1 - t^2
    call w7_iteration(x, eye, hess)
    ok = .true.
    do j = 1, N
       tt = tanh(real(xv(j, 1), real64))
       s2 = 1 - tt**2
       gpp = 2 * s2**2 * xv(j, 1) - 4 * tt**2 * s2 * xv(j, 1) + 4 * tt * s2
       do i = 1, N
          want = 0
          if (i == j) want = gpp
          ok = ok .and. abs(hess(i, j) - want) <= 1.0e-5_real64 * (1 + abs(want))
       end do
    end do
    call check(ok, 'W7 Hessian')

    iters = count_for(50, 10, 1)
    do i = 1, count_for(5, 2, 0)
       call w7_iteration(x, eye, hess)
    end do
    do rep = 1, reps
       t0 = now_us()
       do i = 1, iters
          call w7_iteration(x, eye, hess)
       end do
       call add(s, (now_us() - t0) / iters / 1000)
       sink = hess(2, 2)
    end do
    t_w7 = row('W7 hessian 64x64, 64 reverse-over-forward', s, 'ms/hessian')
    call x%deallocate()
  end subroutine w7

end program bench_fortran
