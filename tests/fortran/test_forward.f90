!> Forward mode (`grad_forward`) on every operation available, with respect to each operand,
!> along unit and general directions, for a batch of two samples; compared with closed forms and
!> with central finite differences computed by re-evaluating the function at perturbed values
!> (written through `x%val`). Also: gradient entries of a scalar function one direction at a
!> time, a directional derivative, a variable that is an intermediate node, a function that does
!> not depend on the variable (zeros), and non-sample-dependent weights broadcast over a batch.
program test_forward
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
  real(real32) :: dirs(E, 4)
  integer :: live0, live1, code, k, wrt

  live0 = diffstruc_live_arrays()

  x0 = reshape([0.7, 1.3, 0.4, 1.1, 0.6, 1.8], [E, S])
  y0 = reshape([1.5, 0.8, 2.1, 0.9, 1.7, 1.2], [E, S])
  r2 = reshape([0.5, -1.5, 2.0, 1.25, 0.75, -0.5], [E, S])
  r1e = [0.5, -1.0, 2.0]
  r1s = [0.8, 2.5]
  dirs(:, 1) = [1.0, 0.0, 0.0]
  dirs(:, 2) = [0.0, 1.0, 0.0]
  dirs(:, 3) = [0.0, 0.0, 1.0]
  dirs(:, 4) = [0.3, -1.2, 0.8]

  call x%allocate([E, S])
  call y%allocate([E, S])
  x%val = x0
  y%val = y0
  call x%set_requires_grad(.true.)
  call y%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  live1 = diffstruc_live_arrays()

  !--------------------------------------------------------------------------------------------
  ! Every operation: values, then J.v for each direction and each variable
  !--------------------------------------------------------------------------------------------
  do code = 1, NOPS
     call check_value(code)
     do wrt = 1, 2
        do k = 1, size(dirs, 2)
           call check_jvp(code, wrt, dirs(:, k))
        end do
     end do
  end do
  call check(diffstruc_live_arrays() == live1, 'per-operation loop returns memory')

  call test_gradient_entries()
  call test_intermediate_variable()
  call test_independent()
  call test_broadcast_weights()
  call test_second_call_same_graph()

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

  !> Values of f for the current x%val, y%val (the graph is released).
  function evaluate(code) result(v)
    integer, intent(in) :: code
    real(real32), allocatable :: v(:,:)
    type(array_type), pointer :: f
    f => make(code)
    v = f%val
    call release(f)
  end function evaluate

  subroutine check_value(code)
    integer, intent(in) :: code
    type(array_type), pointer :: f
    real(real32), allocatable :: want(:,:)
    f => make(code)
    want = reduce(code, value_of(code, x0, y0))
    call check(all(shape(f%val) == shape(want)), trim(opname(code)) // ': result extents')
    if (all(shape(f%val) == shape(want))) &
         call check_close(flat(f%val), flat(want), TOL_CF, trim(opname(code)) // ': value')
    call check(f%requires_grad, trim(opname(code)) // ': result requires_grad')
    ! per-sample shape and batch flag of the reductions
    call check(allocated(f%shape), trim(opname(code)) // ': shape allocated')
    select case (code)
    case (41, 43, 44, 46)
       if (allocated(f%shape)) call check(size(f%shape) == 1 .and. all(f%shape == [1]), &
            trim(opname(code)) // ': shape [1]')
    case (42, 45)
       if (allocated(f%shape)) call check(size(f%shape) == 1 .and. all(f%shape == [E]), &
            trim(opname(code)) // ': shape [E]')
       call check(.not. f%is_sample_dependent, trim(opname(code)) // ': not sample dependent')
    case default
       if (allocated(f%shape)) call check(size(f%shape) == 1 .and. all(f%shape == [E]), &
            trim(opname(code)) // ': shape of x')
    end select
    call release(f)
  end subroutine check_value

  !> J.v with respect to x (wrt = 1) or y (wrt = 2) along direction v (shared by all samples).
  subroutine check_jvp(code, wrt, v)
    integer, intent(in) :: code, wrt
    real(real32), intent(in) :: v(E)
    type(array_type), pointer :: f, df
    real(real32), allocatable :: got(:,:), want(:,:), fd(:,:), fp(:,:), fm(:,:)
    real(real32) :: da(E, S), db(E, S), vb(E, S)
    character(len=80) :: label

    write(label, '(a, a, a, a, 3f5.1, a)') trim(opname(code)), ' d/d', &
         merge('x', 'y', wrt == 1), ' along [', v, ']'
    vb = spread(v, 2, S)
    f => make(code)
    if (wrt == 1) then
       call x%set_direction(v)
       df => f%grad_forward(x)
    else
       call y%set_direction(v)
       df => f%grad_forward(y)
    end if
    got = df%val
    call check(df%is_forward, trim(label) // ': result is_forward')
    call release(f)
    call release(df)

    ! closed form
    call partials(code, x0, y0, da, db)
    if (wrt == 1) then
       want = reduce(code, da * vb)
    else
       want = reduce(code, db * vb)
    end if
    call check(all(shape(got) == shape(want)), trim(label) // ': extents')
    if (.not. all(shape(got) == shape(want))) return
    call check_close(flat(got), flat(want), TOL_CF, trim(label) // ': closed form')

    ! central finite difference along v
    if (wrt == 1) then
       x%val = x0 + H * vb
       fp = evaluate(code)
       x%val = x0 - H * vb
       fm = evaluate(code)
       x%val = x0
    else
       y%val = y0 + H * vb
       fp = evaluate(code)
       y%val = y0 - H * vb
       fm = evaluate(code)
       y%val = y0
    end if
    fd = (fp - fm) / (2.0 * H)
    call check_close(flat(got), flat(fd), TOL_FD, trim(label) // ': finite difference')
  end subroutine check_jvp

  !> Each gradient entry of a scalar function from one call per unit direction, and a
  !> directional derivative, for one-sample arrays.
  subroutine test_gradient_entries()
    type(array_type) :: a, b
    type(array_type), pointer :: f, df
    real(real32) :: av(3), bv(3), e(3), g(3), fp, fm, v(3)
    integer :: i
    av = [0.5, -1.0, 2.0]
    bv = [1.5, 0.25, -0.75]
    call a%allocate([3, 1])
    call a%set(av)
    call b%allocate([3, 1])
    call b%set(bv)
    call a%set_requires_grad(.true.)
    call b%set_requires_grad(.true.)
    a%is_temporary = .false.
    b%is_temporary = .false.

    ! f = sum(a**2 * b + sin(a)) over the elements of the sample
    f => sum(a**2 * b + sin(a), dim=1)
    call check(all(shape(f%val) == [1, 1]), 'gradient entries: f is one number')
    call check_close(f%val(1, 1), sum(av**2 * bv + sin(av)), TOL_CF, 'gradient entries: f value')
    do i = 1, 3
       e = 0.0
       e(i) = 1.0
       call a%set_direction(e)
       df => f%grad_forward(a)
       g(i) = df%val(1, 1)
       call release(df)
    end do
    call check_close(g, 2.0 * av * bv + cos(av), TOL_CF, 'gradient entries: df/da_i, closed form')
    do i = 1, 3
       e = 0.0
       e(i) = H
       a%val(:, 1) = av + e
       fp = sum_of(a, b)
       a%val(:, 1) = av - e
       fm = sum_of(a, b)
       a%val(:, 1) = av
       call check_close(g(i), (fp - fm) / (2.0 * H), TOL_FD, &
            'gradient entries: df/da_i, finite difference')
    end do
    ! the same with respect to b
    do i = 1, 3
       e = 0.0
       e(i) = 1.0
       call b%set_direction(e)
       df => f%grad_forward(b)
       g(i) = df%val(1, 1)
       call release(df)
    end do
    call check_close(g, av**2, TOL_CF, 'gradient entries: df/db_i, closed form')

    ! directional derivative: grad(f) . v
    v = [1.0, 2.0, -1.0]
    call a%set_direction(v)
    df => f%grad_forward(a)
    call check_close(df%val(1, 1), dot_product(2.0 * av * bv + cos(av), v), TOL_CF, &
         'directional derivative: grad f . v')
    call release(df)
    ! without a direction the seed is all ones: the sum of the gradient entries
    deallocate(a%direction)
    df => f%grad_forward(a)
    call check_close(df%val(1, 1), sum(2.0 * av * bv + cos(av)), TOL_CF, &
         'no direction: seed of ones gives the sum of the gradient')
    call release(df)
    ! a new direction replaces the previous one
    call a%set_direction([0.0, 0.0, 1.0])
    call a%set_direction([0.0, 1.0, 0.0])
    df => f%grad_forward(a)
    call check_close(df%val(1, 1), 2.0 * av(2) * bv(2) + cos(av(2)), TOL_CF, &
         'set_direction replaces the previous direction')
    call release(df)
    call release(f)
    call a%deallocate()
    call b%deallocate()
  end subroutine test_gradient_entries

  real(real32) function sum_of(a, b)
    type(array_type), intent(in) :: a, b
    type(array_type), pointer :: f
    f => sum(a**2 * b + sin(a), dim=1)
    sum_of = f%val(1, 1)
    call release(f)
  end function sum_of

  !> The variable is an intermediate result u = a*a: df/du of f = sin(u) + u*b.
  subroutine test_intermediate_variable()
    type(array_type) :: a, b
    type(array_type), pointer :: u, f, df, dfa
    real(real32) :: av(2), bv(2), uv(2)
    av = [0.8, -1.3]
    bv = [2.0, 0.5]
    uv = av * av
    call a%allocate([2, 1])
    call a%set(av)
    call b%allocate([2, 1])
    call b%set(bv)
    call a%set_requires_grad(.true.)
    a%is_temporary = .false.
    b%is_temporary = .false.

    u => a * a
    u%is_temporary = .false.     ! used twice below
    call check(u%requires_grad, 'intermediate: u requires_grad')
    f => sin(u) + u * b
    df => f%grad_forward(u)
    call check_close(df%val(:, 1), cos(uv) + bv, TOL_CF, 'intermediate variable: df/du')
    dfa => f%grad_forward(a)
    call check_close(dfa%val(:, 1), (cos(uv) + bv) * 2.0 * av, TOL_CF, &
         'intermediate: df/da by the chain rule')
    call release(df)
    call release(dfa)
    call release(f)
    call u%nullify_graph()
    deallocate(u)
    call a%deallocate()
    call b%deallocate()
  end subroutine test_intermediate_variable

  !> f does not depend on the variable: the derivative is zeros of f's extents.
  subroutine test_independent()
    type(array_type) :: a, b
    type(array_type), pointer :: f, df
    call a%allocate([3, 2], source=1.5)
    call b%allocate([3, 2], source=0.5)
    call a%set_requires_grad(.true.)
    call b%set_requires_grad(.true.)
    a%is_temporary = .false.
    b%is_temporary = .false.
    f => exp(b) * 2.0 + b
    df => f%grad_forward(a)
    call check(all(shape(df%val) == [3, 2]), 'independent: derivative has the extents of f')
    call check(all(df%val == 0.0), 'independent: derivative is zero')
    call release(df)
    call release(f)
    ! a scalar function of b only
    f => sum(b * b)
    df => f%grad_forward(a)
    call check(all(shape(df%val) == [1, 1]), 'independent: scalar f extents')
    call check(all(df%val == 0.0), 'independent: scalar f derivative is zero')
    call release(df)
    call release(f)
    call a%deallocate()
    call b%deallocate()
  end subroutine test_independent

  !> Weights shared by the batch (is_sample_dependent = .false., one column) broadcast over a
  !> batch of three samples.
  subroutine test_broadcast_weights()
    type(array_type) :: xb, w
    type(array_type), pointer :: f, df
    real(real32) :: xv(2, 3), wv(2)
    integer :: j
    xv = reshape([1.0, 2.0, -1.0, 0.5, 3.0, -2.0], [2, 3])
    wv = [0.25, -1.5]
    call xb%allocate([2, 3])
    xb%val = xv
    call w%allocate([2, 1])
    w%is_sample_dependent = .false.
    call w%set(wv)
    call xb%set_requires_grad(.true.)
    call w%set_requires_grad(.true.)
    xb%is_temporary = .false.
    w%is_temporary = .false.

    ! x * w
    f => xb * w
    call check(all(shape(f%val) == [2, 3]), 'broadcast x*w: extents')
    call check_close(flat(f%val), flat(xv * spread(wv, 2, 3)), TOL_CF, 'broadcast x*w: value')
    df => f%grad_forward(w)
    call check(all(shape(df%val) == [2, 3]), 'broadcast x*w: d/dw extents')
    call check_close(flat(df%val), flat(xv), TOL_CF, 'broadcast x*w: d/dw = x per sample')
    call release(df)
    df => f%grad_forward(xb)
    call check_close(flat(df%val), flat(spread(wv, 2, 3)), TOL_CF, 'broadcast x*w: d/dx = w')
    call release(df)
    call release(f)

    ! x + w, and a direction on w
    f => xb + w
    call check_close(flat(f%val), flat(xv + spread(wv, 2, 3)), TOL_CF, 'broadcast x+w: value')
    call w%set_direction([2.0, -1.0])
    df => f%grad_forward(w)
    call check_close(flat(df%val), flat(spread([2.0, -1.0], 2, 3)), TOL_CF, &
         'broadcast x+w: d/dw along a direction')
    call release(df)
    call release(f)
    deallocate(w%direction)

    ! w * x (weights on the left)
    f => w * xb
    call check(all(shape(f%val) == [2, 3]), 'broadcast w*x: extents')
    if (all(shape(f%val) == [2, 3])) then
       call check_close(flat(f%val), flat(xv * spread(wv, 2, 3)), TOL_CF, 'broadcast w*x: value')
       df => f%grad_forward(w)
       call check_close(flat(df%val), flat(xv), TOL_CF, 'broadcast w*x: d/dw')
       call release(df)
    end if
    call release(f)

    ! a per-sample loss: sum over elements of (x*w)**2, derivative w.r.t. w(1)
    f => sum((xb * w)**2, dim=1)
    call w%set_direction([1.0, 0.0])
    df => f%grad_forward(w)
    do j = 1, 3
       call check_close(df%val(1, j), 2.0 * xv(1, j)**2 * wv(1), TOL_CF, &
            'broadcast: per-sample d/dw1 of sum((x*w)**2)')
    end do
    call release(df)
    call release(f)
    call xb%deallocate()
    call w%deallocate()
  end subroutine test_broadcast_weights

  !> grad_forward twice on the same graph (different variables), and after values change.
  subroutine test_second_call_same_graph()
    type(array_type), pointer :: f, d1, d2
    if (allocated(x%direction)) deallocate(x%direction)
    if (allocated(y%direction)) deallocate(y%direction)
    f => x * y + exp(x)
    d1 => f%grad_forward(x)
    d2 => f%grad_forward(y)
    call check_close(flat(d1%val), flat(y0 + exp(x0)), TOL_CF, 'two calls: df/dx')
    call check_close(flat(d2%val), flat(x0), TOL_CF, 'two calls: df/dy')
    call release(d1)
    call release(d2)
    call release(f)
  end subroutine test_second_call_same_graph

end program test_forward
