!> Reverse mode (`grad_reverse`) on every operation available, with respect to each operand, for
!> a batch of two samples, with the default seed (ones) and with a custom seed written into
!> `f%grad%val`; compared with closed forms and with central finite differences of
!> sum(seed * f) computed by re-evaluating the function at perturbed values (through `x%val`).
!> Also: accumulation across calls, `zero_grad`, `grad_reverse(reset_graph=.true.)`,
!> `zero_all_grads`, leaf gradients readable after `nullify_graph`, variables without
!> `requires_grad`, shared sub-expressions, the gradient of weights shared by a batch (summed
!> over the samples), and broadcasting of one element per sample or one shared column on either
!> side of + - * / ** max.
program test_reverse
  use diffstruc
  use test_utils
  implicit none

  integer, parameter :: E = 3, S = 2, NOPS = 46
  real, parameter :: H = 1.0e-2        ! finite-difference step
  real, parameter :: TOL_FD = 3.0e-3   ! vs finite differences
  real, parameter :: TOL_CF = 2.0e-5   ! vs closed forms (single precision arithmetic)
  real(real32), parameter :: MU = 0.9, SIGMA = 0.6

  type(array_type) :: x, y
  real(real32) :: x0(E, S), y0(E, S), r2(E, S), r1e(E), r1s(S)
  integer :: live0, live1, code

  live0 = diffstruc_live_arrays()

  x0 = reshape([0.7, 1.3, 0.4, 1.1, 0.6, 1.8], [E, S])
  y0 = reshape([1.5, 0.8, 2.1, 0.9, 1.7, 1.2], [E, S])
  r2 = reshape([0.5, -1.5, 2.0, 1.25, 0.75, -0.5], [E, S])
  r1e = [0.5, -1.0, 2.0]
  r1s = [0.8, 2.5]

  call x%allocate([E, S])
  call y%allocate([E, S])
  x%val = x0
  y%val = y0
  call x%set_requires_grad(.true.)
  call y%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  call check(associated(x%grad), 'a variable has grad after set_requires_grad')
  live1 = diffstruc_live_arrays()

  do code = 1, NOPS
     call check_vjp(code)
  end do
  call check(diffstruc_live_arrays() == live1, 'per-operation loop returns memory')

  call test_accumulation_and_reset()
  call test_zero_all_grads()
  call test_grad_after_nullify()
  call test_no_requires_grad()
  call test_shared_subexpression()
  call test_batch_shared_weights()
  call test_general_broadcast()
  call test_seed_allocated_by_program()

  call x%deallocate()
  call y%deallocate()
  call check(diffstruc_live_arrays() == live0, 'live arrays back to start')
  call finish()

contains

  function opname(code) result(name)
    integer, intent(in) :: code
    character(len=16) :: name
    character(len=16), parameter :: names(NOPS) = [character(len=16) :: &
         'x+y', 'x-y', 'x*y', 'x/y', 'x**y', 'x**3', 'x**2.5', '2.0**x', '3**x', &
         'x+2.0', '2.0+x', 'x-2.0', '2.0-x', '-x', 'x*3.0', '3.0*x', 'x/4.0', '4.0/x', &
         'x+r1(E)', 'r1(E)+x', 'x+r2', 'r2+x', 'x-r2', 'x*r2', 'r2*x', 'x-r1(S)', 'x/r1(S)', &
         'exp', 'log', 'log10', 'sqrt', 'abs(x-1)', 'sigmoid', 'gaussian', 'sin', 'cos', &
         'tan', 'tanh', 'max(x,y)', 'max(x,0.5)', 'sum(x,1)', 'sum(x,2)', 'sum(x)', &
         'mean(x,1)', 'mean(x,2)', 'mean(x)']
    name = names(code)
  end function opname

  !> The function under test, built from the host's `x` and `y`.
  function make(code) result(f)
    integer, intent(in) :: code
    type(array_type), pointer :: f
    select case (code)
    case (1); f => x + y
    case (2); f => x - y
    case (3); f => x * y
    case (4); f => x / y
    case (5); f => x ** y
    case (6); f => x ** 3
    case (7); f => x ** 2.5
    case (8); f => 2.0 ** x
    case (9); f => 3 ** x
    case (10); f => x + 2.0
    case (11); f => 2.0 + x
    case (12); f => x - 2.0
    case (13); f => 2.0 - x
    case (14); f => -x
    case (15); f => x * 3.0
    case (16); f => 3.0 * x
    case (17); f => x / 4.0
    case (18); f => 4.0 / x
    case (19); f => x + r1e
    case (20); f => r1e + x
    case (21); f => x + r2
    case (22); f => r2 + x
    case (23); f => x - r2
    case (24); f => x * r2
    case (25); f => r2 * x
    case (26); f => x - r1s
    case (27); f => x / r1s
    case (28); f => exp(x)
    case (29); f => log(x)
    case (30); f => log10(x)
    case (31); f => sqrt(x)
    case (32); f => abs(x - 1.0)
    case (33); f => sigmoid(x)
    case (34); f => gaussian(x, MU, SIGMA)
    case (35); f => sin(x)
    case (36); f => cos(x)
    case (37); f => tan(x)
    case (38); f => tanh(x)
    case (39); f => max(x, y)
    case (40); f => max(x, 0.5)
    case (41); f => sum(x, dim=1)
    case (42); f => sum(x, dim=2)
    case (43); f => sum(x)
    case (44); f => mean(x, dim=1)
    case (45); f => mean(x, dim=2)
    case (46); f => mean(x)
    case default; error stop 'make: bad code'
    end select
  end function make

  !> Closed-form values of the element-wise part (before any reduction).
  function value_of(code, a, b) result(v)
    integer, intent(in) :: code
    real(real32), intent(in) :: a(E, S), b(E, S)
    real(real32) :: v(E, S)
    select case (code)
    case (1); v = a + b
    case (2); v = a - b
    case (3); v = a * b
    case (4); v = a / b
    case (5); v = a ** b
    case (6); v = a ** 3
    case (7); v = a ** 2.5
    case (8); v = 2.0 ** a
    case (9); v = 3.0 ** a
    case (10, 11); v = a + 2.0
    case (12); v = a - 2.0
    case (13); v = 2.0 - a
    case (14); v = -a
    case (15, 16); v = 3.0 * a
    case (17); v = a / 4.0
    case (18); v = 4.0 / a
    case (19, 20); v = a + spread(r1e, 2, S)
    case (21, 22); v = a + r2
    case (23); v = a - r2
    case (24, 25); v = a * r2
    case (26); v = a - spread(r1s, 1, E)
    case (27); v = a / spread(r1s, 1, E)
    case (28); v = exp(a)
    case (29); v = log(a)
    case (30); v = log10(a)
    case (31); v = sqrt(a)
    case (32); v = abs(a - 1.0)
    case (33); v = 1.0 / (1.0 + exp(-a))
    case (34); v = exp(-0.5 * ((a - MU) / SIGMA)**2) / (sqrt(2.0 * acos(-1.0)) * SIGMA)
    case (35); v = sin(a)
    case (36); v = cos(a)
    case (37); v = tan(a)
    case (38); v = tanh(a)
    case (39); v = max(a, b)
    case (40); v = max(a, 0.5)
    case default; v = a
    end select
  end function value_of

  !> Element-wise partial derivatives of the element-wise part: d/da and d/db.
  subroutine partials(code, a, b, da, db)
    integer, intent(in) :: code
    real(real32), intent(in) :: a(E, S), b(E, S)
    real(real32), intent(out) :: da(E, S), db(E, S)
    real(real32) :: c(E, S)
    da = 0.0
    db = 0.0
    select case (code)
    case (1); da = 1.0; db = 1.0
    case (2); da = 1.0; db = -1.0
    case (3); da = b; db = a
    case (4); da = 1.0 / b; db = -a / b**2
    case (5); da = b * a**(b - 1.0); db = a**b * log(a)
    case (6); da = 3.0 * a**2
    case (7); da = 2.5 * a**1.5
    case (8); da = 2.0**a * log(2.0)
    case (9); da = 3.0**a * log(3.0)
    case (10, 11, 12, 19, 20, 21, 22, 23, 26); da = 1.0
    case (13, 14); da = -1.0
    case (15, 16); da = 3.0
    case (17); da = 0.25
    case (18); da = -4.0 / a**2
    case (24, 25); da = r2
    case (27); da = 1.0 / spread(r1s, 1, E)
    case (28); da = exp(a)
    case (29); da = 1.0 / a
    case (30); da = 1.0 / (a * log(10.0))
    case (31); da = 0.5 / sqrt(a)
    case (32); da = sign(1.0, a - 1.0)
    case (33); c = 1.0 / (1.0 + exp(-a)); da = c * (1.0 - c)
    case (34); c = value_of(34, a, b); da = -(a - MU) / SIGMA**2 * c
    case (35); da = cos(a)
    case (36); da = -sin(a)
    case (37); da = 1.0 / cos(a)**2
    case (38); da = 1.0 - tanh(a)**2
    case (39); where (a > b); da = 1.0; elsewhere; db = 1.0; end where
    case (40); where (a > 0.5) da = 1.0
    case default; da = 1.0   ! reductions: identity before the reduction
    end select
  end subroutine partials

  !> The reduction applied after the element-wise part (codes 41-46).
  function reduce(code, t) result(r)
    integer, intent(in) :: code
    real(real32), intent(in) :: t(E, S)
    real(real32), allocatable :: r(:,:)
    select case (code)
    case (41); r = reshape(sum(t, dim=1), [1, S])
    case (42); r = reshape(sum(t, dim=2), [E, 1])
    case (43); r = reshape([sum(t)], [1, 1])
    case (44); r = reshape(sum(t, dim=1) / E, [1, S])
    case (45); r = reshape(sum(t, dim=2) / S, [E, 1])
    case (46); r = reshape([sum(t) / (E * S)], [1, 1])
    case default; r = t
    end select
  end function reduce

  function flat(a) result(v)
    real(real32), intent(in) :: a(:,:)
    real(real32) :: v(size(a))
    v = reshape(a, [size(a)])
  end function flat

  subroutine release(f)
    type(array_type), pointer, intent(inout) :: f
    call f%nullify_graph()
    deallocate(f)
  end subroutine release

  !> The adjoint of the reduction of `code`: spreads an upstream of the result's extents back
  !> to (E, S).
  function unreduce(code, u) result(g)
    integer, intent(in) :: code
    real(real32), intent(in) :: u(:,:)
    real(real32) :: g(E, S)
    select case (code)
    case (41); g = spread(u(1, :), 1, E)
    case (42); g = spread(u(:, 1), 2, S)
    case (43); g = u(1, 1)
    case (44); g = spread(u(1, :), 1, E) / E
    case (45); g = spread(u(:, 1), 2, S) / S
    case (46); g = u(1, 1) / (E * S)
    case default; g = u
    end select
  end function unreduce

  !> sum(seed * f) for the current x%val, y%val (the graph is released).
  real(real64) function loss(code, seed)
    use, intrinsic :: iso_fortran_env, only: real64
    integer, intent(in) :: code
    real(real32), intent(in) :: seed(:,:)
    type(array_type), pointer :: f
    f => make(code)
    loss = sum(real(seed, real64) * real(f%val, real64))
    call release(f)
  end function loss

  subroutine check_vjp(code)
    use, intrinsic :: iso_fortran_env, only: real64
    integer, intent(in) :: code
    type(array_type), pointer :: f
    real(real32) :: da(E, S), db(E, S), fdx(E, S), fdy(E, S), gx(E, S), gy(E, S)
    real(real32), allocatable :: seed(:,:), ones(:,:)
    character(len=40) :: name
    integer :: i, j
    real(real64) :: lp, lm

    name = opname(code)
    call partials(code, x0, y0, da, db)
    call x%zero_grad()
    call y%zero_grad()
    call check(all(x%grad%val == 0.0) .and. all(y%grad%val == 0.0), trim(name) // ': zero_grad')

    ! default seed: ones
    f => make(code)
    allocate(ones(size(f%val, 1), size(f%val, 2)))
    ones = 1.0
    call f%grad_reverse()
    call check(associated(f%grad), trim(name) // ': result has a grad (the seed)')
    if (associated(f%grad)) call check(all(f%grad%val == 1.0), trim(name) // ': seed is ones')
    call check_close(flat(x%grad%val), flat(da * unreduce(code, ones)), TOL_CF, &
         trim(name) // ': d/dx, seed ones, closed form')
    call check_close(flat(y%grad%val), flat(db * unreduce(code, ones)), TOL_CF, &
         trim(name) // ': d/dy, seed ones, closed form')

    ! custom seed written into f%grad%val
    allocate(seed, mold=ones)
    do j = 1, size(seed, 2)
       do i = 1, size(seed, 1)
          seed(i, j) = 0.5 + 0.37 * i - 0.61 * j
       end do
    end do
    call x%zero_grad()
    call y%zero_grad()
    f%grad%val = seed
    call f%grad_reverse()
    gx = x%grad%val
    gy = y%grad%val
    call release(f)
    call check_close(flat(gx), flat(da * unreduce(code, seed)), TOL_CF, &
         trim(name) // ': d/dx, custom seed, closed form')
    call check_close(flat(gy), flat(db * unreduce(code, seed)), TOL_CF, &
         trim(name) // ': d/dy, custom seed, closed form')

    ! finite differences of sum(seed * f), one element at a time
    do j = 1, S
       do i = 1, E
          x%val(i, j) = x0(i, j) + H
          lp = loss(code, seed)
          x%val(i, j) = x0(i, j) - H
          lm = loss(code, seed)
          x%val(i, j) = x0(i, j)
          fdx(i, j) = real((lp - lm) / (2.0 * H), real32)
          y%val(i, j) = y0(i, j) + H
          lp = loss(code, seed)
          y%val(i, j) = y0(i, j) - H
          lm = loss(code, seed)
          y%val(i, j) = y0(i, j)
          fdy(i, j) = real((lp - lm) / (2.0 * H), real32)
       end do
    end do
    call check_close(flat(gx), flat(fdx), TOL_FD, trim(name) // ': d/dx, finite difference')
    call check_close(flat(gy), flat(fdy), TOL_FD, trim(name) // ': d/dy, finite difference')
  end subroutine check_vjp

  !> Gradients accumulate across calls; zero_grad clears them; reset_graph=.true. restarts from
  !> a seed of ones.
  subroutine test_accumulation_and_reset()
    type(array_type), pointer :: f
    call x%zero_grad()
    call y%zero_grad()
    f => x * y + 2.0 * x
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(y0 + 2.0), TOL_CF, 'accumulate: first call')
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(2.0 * (y0 + 2.0)), TOL_CF, &
         'accumulate: second call adds')
    call check_close(flat(y%grad%val), flat(2.0 * x0), TOL_CF, 'accumulate: second call, y')
    call x%zero_grad()
    call check(all(x%grad%val == 0.0), 'zero_grad clears x%grad')
    call check_close(flat(y%grad%val), flat(2.0 * x0), TOL_CF, 'zero_grad on x leaves y%grad')
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(y0 + 2.0), TOL_CF, 'after zero_grad: one call')
    ! reset_graph: gradients start again from zero, seed back to ones
    call f%grad_reverse(reset_graph=.true.)
    call check_close(flat(x%grad%val), flat(y0 + 2.0), TOL_CF, 'reset_graph: not accumulated')
    call check_close(flat(y%grad%val), flat(x0), TOL_CF, 'reset_graph: y not accumulated')
    f%grad%val = 3.0
    call f%grad_reverse(reset_graph=.true.)
    call check(all(f%grad%val == 1.0), 'reset_graph: seed is ones again')
    call check_close(flat(x%grad%val), flat(y0 + 2.0), TOL_CF, 'reset_graph: replaces a custom seed')
    ! custom seed without reset, after zero_grad
    call x%zero_grad()
    call y%zero_grad()
    f%grad%val = 3.0
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(3.0 * (y0 + 2.0)), TOL_CF, 'custom seed 3: d/dx')
    call release(f)
  end subroutine test_accumulation_and_reset

  !> zero_all_grads zeroes every gradient in the graph, the seed included: a following
  !> grad_reverse without reset propagates zeros.
  subroutine test_zero_all_grads()
    type(array_type), pointer :: f
    call x%zero_grad()
    call y%zero_grad()
    f => exp(x) * y
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(exp(x0) * y0), TOL_CF, 'zero_all_grads: before')
    call f%zero_all_grads()
    call check(all(x%grad%val == 0.0), 'zero_all_grads: x%grad zero')
    call check(all(y%grad%val == 0.0), 'zero_all_grads: y%grad zero')
    call check(all(f%grad%val == 0.0), 'zero_all_grads: the seed is zero')
    call f%grad_reverse()
    call check(all(x%grad%val == 0.0), 'zero_all_grads: zero seed gives zero gradient')
    call f%grad_reverse(reset_graph=.true.)
    call check_close(flat(x%grad%val), flat(exp(x0) * y0), TOL_CF, &
         'zero_all_grads then reset_graph: gradient again')
    call check_close(flat(y%grad%val), flat(exp(x0)), TOL_CF, &
         'zero_all_grads then reset_graph: y gradient')
    call release(f)
  end subroutine test_zero_all_grads

  !> Gradients of leaves stay readable after the graph is released.
  subroutine test_grad_after_nullify()
    type(array_type), pointer :: f
    call x%zero_grad()
    call y%zero_grad()
    f => sum(x**2 * y)
    call f%grad_reverse()
    call f%nullify_graph()
    call check(associated(x%grad), 'after nullify_graph: x%grad associated')
    call check_close(flat(x%grad%val), flat(2.0 * x0 * y0), TOL_CF, 'after nullify_graph: x%grad')
    call check_close(flat(y%grad%val), flat(x0**2), TOL_CF, 'after nullify_graph: y%grad')
    call check_close(f%val(1, 1), sum(x0**2 * y0), TOL_CF, 'after nullify_graph: f value kept')
    deallocate(f)
    call check_close(flat(x%grad%val), flat(2.0 * x0 * y0), TOL_CF, 'after deallocate(f): x%grad')
  end subroutine test_grad_after_nullify

  !> A leaf without requires_grad gets no gradient, and nothing flows through it.
  subroutine test_no_requires_grad()
    type(array_type) :: c
    type(array_type), pointer :: f
    call c%allocate([E, S])
    c%val = y0
    c%is_temporary = .false.
    call x%zero_grad()
    f => sum(x * c + exp(c))
    call f%grad_reverse()
    call check(.not. associated(c%grad), 'no requires_grad: no gradient')
    call check_close(flat(x%grad%val), flat(y0), TOL_CF, 'no requires_grad: x gradient')
    call release(f)
    call c%deallocate()
  end subroutine test_no_requires_grad

  !> A result used twice (g = f + f*x with f = x*x) and a variable used several times.
  subroutine test_shared_subexpression()
    type(array_type), pointer :: f, g
    call x%zero_grad()
    call y%zero_grad()
    f => x * x
    f%is_temporary = .false.
    g => f + f * x
    call g%grad_reverse()
    call check_close(flat(x%grad%val), flat(2.0 * x0 + 3.0 * x0**2), TOL_CF, &
         'shared sub-expression: d/dx (x^2 + x^3)')
    call release(g)
    call release(f)
    call x%zero_grad()
    f => x * y + x / y - x
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(y0 + 1.0 / y0 - 1.0), TOL_CF, &
         'variable used three times: d/dx')
    call check_close(flat(y%grad%val), flat(x0 - x0 / y0**2), TOL_CF, &
         'variable used three times: d/dy')
    call release(f)
  end subroutine test_shared_subexpression

  !> Weights and bias shared by a batch of three samples: their gradients are summed over the
  !> samples; the batched input gets per-sample gradients.
  subroutine test_batch_shared_weights()
    type(array_type) :: xb, w, bias
    type(array_type), pointer :: f
    real(real32) :: xv(2, 3), wv(2), bv(2), t(2, 3), r(2, 3)
    xv = reshape([1.0, 2.0, -1.0, 0.5, 3.0, -2.0], [2, 3])
    wv = [0.25, -1.5]
    bv = [0.1, 0.2]
    t = reshape([0.5, 1.0, -0.5, 2.0, 1.5, 0.0], [2, 3])
    call xb%allocate([2, 3])
    xb%val = xv
    call w%allocate([2, 1])
    call w%set(wv)
    w%is_sample_dependent = .false.
    call bias%allocate([2, 1])
    call bias%set(bv)
    bias%is_sample_dependent = .false.
    call xb%set_requires_grad(.true.)
    call w%set_requires_grad(.true.)
    call bias%set_requires_grad(.true.)
    xb%is_temporary = .false.
    w%is_temporary = .false.
    bias%is_temporary = .false.

    ! sum over everything of x*w
    f => sum(xb * w)
    call f%grad_reverse()
    call check(all(shape(w%grad%val) == [2, 1]), 'shared weight: gradient has one column')
    call check_close(w%grad%val(:, 1), sum(xv, dim=2), TOL_CF, 'shared weight: summed over batch')
    call check_close(flat(xb%grad%val), flat(spread(wv, 2, 3)), TOL_CF, &
         'shared weight: batched input gradient')
    call release(f)

    ! mean squared error of x*w + b against targets
    call w%zero_grad()
    call xb%zero_grad()
    r = xv * spread(wv, 2, 3) + spread(bv, 2, 3) - t
    f => mean((xb * w + bias - t)**2)
    call check_close(f%val(1, 1), sum(r**2) / 6.0, TOL_CF, 'mse: value')
    call f%grad_reverse()
    call check_close(w%grad%val(:, 1), sum(2.0 * r * xv, dim=2) / 6.0, TOL_CF, 'mse: d/dw')
    call check_close(bias%grad%val(:, 1), sum(2.0 * r, dim=2) / 6.0, TOL_CF, 'mse: d/db')
    call check_close(flat(xb%grad%val), flat(2.0 * r * spread(wv, 2, 3) / 6.0), TOL_CF, &
         'mse: d/dx per sample')
    call release(f)

    ! weights on the left of the product
    call w%zero_grad()
    f => sum(w * xb)
    call check_close(f%val(1, 1), sum(xv * spread(wv, 2, 3)), TOL_CF, 'w*x: value')
    call f%grad_reverse()
    call check_close(w%grad%val(:, 1), sum(xv, dim=2), TOL_CF, 'w*x: d/dw summed over batch')
    call release(f)

    call xb%deallocate()
    call w%deallocate()
    call bias%deallocate()
  end subroutine test_batch_shared_weights

  !> The operator k applied to (a, b), for the broadcasting test.
  function binop(k, a, b) result(f)
    integer, intent(in) :: k
    type(array_type), intent(in) :: a, b
    type(array_type), pointer :: f
    select case (k)
    case (1); f => a + b
    case (2); f => a - b
    case (3); f => a * b
    case (4); f => a / b
    case (5); f => a ** b
    case default; f => max(a, b)
    end select
  end function binop

  function binop_value(k, a, b) result(c)
    integer, intent(in) :: k
    real(real32), intent(in) :: a(E, S), b(E, S)
    real(real32) :: c(E, S)
    select case (k)
    case (1); c = a + b
    case (2); c = a - b
    case (3); c = a * b
    case (4); c = a / b
    case (5); c = a ** b
    case default; c = max(a, b)
    end select
  end function binop_value

  real(real64) function sum_binop(k, a, b)
    use, intrinsic :: iso_fortran_env, only: real64
    integer, intent(in) :: k
    type(array_type), intent(in) :: a, b
    type(array_type), pointer :: f
    f => binop(k, a, b)
    sum_binop = sum(real(f%val, real64))
    call release(f)
  end function sum_binop

  !> Central differences of sum(a op b) with respect to every element of `v` (a or b).
  function fd_binop(k, a, b, v) result(g)
    use, intrinsic :: iso_fortran_env, only: real64
    integer, intent(in) :: k
    type(array_type), intent(in) :: a, b
    type(array_type), intent(in) :: v     ! a or b: written through its val pointer
    real(real32) :: g(size(v%val, 1), size(v%val, 2))
    real(real32) :: v0
    real(real64) :: lp, lm
    integer :: i, j
    do j = 1, size(v%val, 2)
       do i = 1, size(v%val, 1)
          v0 = v%val(i, j)
          v%val(i, j) = v0 + H
          lp = sum_binop(k, a, b)
          v%val(i, j) = v0 - H
          lm = sum_binop(k, a, b)
          v%val(i, j) = v0
          g(i, j) = real((lp - lm) / (2.0 * H), real32)
       end do
    end do
  end function fd_binop

  !> One element per sample (p: [1] with batch S) and one column shared by the batch (w: [E],
  !> batch 1, not sample dependent) on either side of each binary operator.
  subroutine test_general_broadcast()
    character(len=4), parameter :: ops(6) = ['+   ', '-   ', '*   ', '/   ', '**  ', 'max ']
    type(array_type) :: xa, pa, wa
    type(array_type), pointer :: f
    real(real32) :: pv(S), wv(E), xe(E, S), pe(E, S), we(E, S)
    real(real32), allocatable :: ga(:,:), gb(:,:)
    character(len=40) :: label
    integer :: k, pair
    pv = [0.6, 1.4]
    wv = [0.9, 1.5, 0.75]
    xe = x0
    pe = spread(pv, 1, E)
    we = spread(wv, 2, S)
    call xa%allocate([E, S])
    xa%val = x0
    call pa%allocate([1, S])
    pa%val(1, :) = pv
    call wa%allocate([E, 1])
    wa%is_sample_dependent = .false.
    wa%val(:, 1) = wv
    call xa%set_requires_grad(.true.)
    call pa%set_requires_grad(.true.)
    call wa%set_requires_grad(.true.)
    xa%is_temporary = .false.
    pa%is_temporary = .false.
    wa%is_temporary = .false.
    do k = 1, 6
       do pair = 1, 4
          call xa%zero_grad()
          call pa%zero_grad()
          call wa%zero_grad()
          select case (pair)
          case (1)
             label = 'x ' // trim(ops(k)) // ' p'
             f => binop(k, xa, pa)
          case (2)
             label = 'p ' // trim(ops(k)) // ' x'
             f => binop(k, pa, xa)
          case (3)
             label = 'x ' // trim(ops(k)) // ' w'
             f => binop(k, xa, wa)
          case default
             label = 'w ' // trim(ops(k)) // ' x'
             f => binop(k, wa, xa)
          end select
          call check(all(shape(f%val) == [E, S]), 'broadcast ' // trim(label) // ': extents')
          if (.not. all(shape(f%val) == [E, S])) then
             call release(f)
             cycle
          end if
          select case (pair)
          case (1); call check_close(flat(f%val), flat(binop_value(k, xe, pe)), TOL_CF, &
               'broadcast ' // trim(label) // ': value')
          case (2); call check_close(flat(f%val), flat(binop_value(k, pe, xe)), TOL_CF, &
               'broadcast ' // trim(label) // ': value')
          case (3); call check_close(flat(f%val), flat(binop_value(k, xe, we)), TOL_CF, &
               'broadcast ' // trim(label) // ': value')
          case default; call check_close(flat(f%val), flat(binop_value(k, we, xe)), TOL_CF, &
               'broadcast ' // trim(label) // ': value')
          end select
          call f%grad_reverse()
          call release(f)
          select case (pair)
          case (1)
             ga = xa%grad%val
             gb = pa%grad%val
             call check(all(shape(gb) == [1, S]), 'broadcast ' // trim(label) // ': grad extents')
             call check_close(flat(ga), flat(fd_binop(k, xa, pa, xa)), TOL_FD, &
                  'broadcast ' // trim(label) // ': d/dx')
             call check_close(flat(gb), flat(fd_binop(k, xa, pa, pa)), TOL_FD, &
                  'broadcast ' // trim(label) // ': d/dp')
          case (2)
             ga = pa%grad%val
             gb = xa%grad%val
             call check_close(flat(ga), flat(fd_binop(k, pa, xa, pa)), TOL_FD, &
                  'broadcast ' // trim(label) // ': d/dp')
             call check_close(flat(gb), flat(fd_binop(k, pa, xa, xa)), TOL_FD, &
                  'broadcast ' // trim(label) // ': d/dx')
          case (3)
             ga = xa%grad%val
             gb = wa%grad%val
             call check(all(shape(gb) == [E, 1]), 'broadcast ' // trim(label) // ': grad extents')
             call check_close(flat(ga), flat(fd_binop(k, xa, wa, xa)), TOL_FD, &
                  'broadcast ' // trim(label) // ': d/dx')
             call check_close(flat(gb), flat(fd_binop(k, xa, wa, wa)), TOL_FD, &
                  'broadcast ' // trim(label) // ': d/dw')
          case default
             ga = wa%grad%val
             gb = xa%grad%val
             call check_close(flat(ga), flat(fd_binop(k, wa, xa, wa)), TOL_FD, &
                  'broadcast ' // trim(label) // ': d/dw')
             call check_close(flat(gb), flat(fd_binop(k, wa, xa, xa)), TOL_FD, &
                  'broadcast ' // trim(label) // ': d/dx')
          end select
       end do
    end do
    call xa%deallocate()
    call pa%deallocate()
    call wa%deallocate()
  end subroutine test_general_broadcast

  !> A seed set before the first grad_reverse, in a gradient the program allocates itself
  !> (`allocate(f%grad)`; diffstruc frees it with f, since `owns_gradient` is true by default).
  subroutine test_seed_allocated_by_program()
    type(array_type), pointer :: f
    integer :: live
    live = diffstruc_live_arrays()
    call x%zero_grad()
    call y%zero_grad()
    f => x * y
    call check(.not. associated(f%grad), 'a result has no grad before grad_reverse')
    allocate(f%grad)
    call f%grad%allocate([E, S], source=0.5)
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(0.5 * y0), TOL_CF, 'seed in a program-allocated grad: d/dx')
    call check_close(flat(y%grad%val), flat(0.5 * x0), TOL_CF, 'seed in a program-allocated grad: d/dy')
    call f%nullify_graph()
    call f%deallocate()
    deallocate(f)
    call check(diffstruc_live_arrays() == live, 'seed in a program-allocated grad: memory returned')
  end subroutine test_seed_allocated_by_program

end program test_reverse
