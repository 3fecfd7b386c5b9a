!> Higher derivatives: second and third derivatives of element-wise functions by repeated
!> forward mode (batch of two samples), and second derivatives by reverse over forward; each
!> compared with closed forms and with (extrapolated) central differences of the previous derivative
!> (re-evaluated at perturbed values written through `x%val`). Mixed partials of functions of two
!> variables (both orders, and a third-order mixed partial), and a full Hessian of a function of a
!> vector by forward over forward and by reverse over forward.
program test_higher_order
  use diffstruc
  use test_utils
  use op_catalogue, only: E, S, H, TOL_FD
  implicit none

  integer, parameter :: NFUN = 21
  character(len=20), parameter :: FUN_NAMES(NFUN) = [character(len=20) :: &
       'x**5-2x**3+x', 'x**4', 'exp', 'log', 'sqrt', 'tanh', 'sigmoid', 'sin', '1/x', &
       'cos', 'tan', 'log10', '2**x', 'x**2.5', 'gaussian', 'x*exp(x)', 'asin(x/2)', &
       'acos(x/2)', 'atan', 'sinh', 'cosh']
  real, parameter :: TOL_CF = 5.0e-5   ! vs closed forms (single precision arithmetic)
  real(real32), parameter :: MU = 0.4, SIGMA = 0.7

  type(array_type) :: x
  real(real32) :: x0(E, S)
  integer :: live0, live1, code

  live0 = diffstruc_live_arrays()
  x0 = reshape([0.6, 1.1, 1.3, 0.9, 1.2, 0.3], [E, S])
  call new_variable(x, x0, .true.)
  live1 = diffstruc_live_arrays()

  do code = 1, NFUN
     call check_function(code)
  end do
  call check(diffstruc_live_arrays() == live1, 'per-function loop returns memory')
  call x%deallocate()

  call test_mixed_partials()
  call test_hessian_vector()
  call test_hessian_two_variables()

  call check(diffstruc_live_arrays() == live0, 'live arrays back to start')
  call finish()

contains

  function make(code) result(f)
    integer, intent(in) :: code
    type(array_type), pointer :: f
    select case (code)
    case (1); f => x**5 - 2.0 * x**3 + x
    case (2); f => x**4
    case (3); f => exp(x)
    case (4); f => log(x)
    case (5); f => sqrt(x)
    case (6); f => tanh(x)
    case (7); f => sigmoid(x)
    case (8); f => sin(x)
    case (9); f => 1.0 / x
    case (10); f => cos(x)
    case (11); f => tan(x)
    case (12); f => log10(x)
    case (13); f => 2.0**x
    case (14); f => x**2.5
    case (15); f => gaussian(x, MU, SIGMA)
    case (16); f => x * exp(x)
    case (17); f => asin(x * 0.5)
    case (18); f => acos(x * 0.5)
    case (19); f => atan(x)
    case (20); f => sinh(x)
    case (21); f => cosh(x)
    case default; error stop 'make: bad code'
    end select
  end function make

  !> Closed-form derivative of order n (0 to 3), element by element.
  function deriv(code, n, a) result(d)
    integer, intent(in) :: code, n
    real(real32), intent(in) :: a(E, S)
    real(real32) :: d(E, S), t(E, S), q(E, S), g(E, S), z(E, S)
    select case (code)
    case (1)
       select case (n)
       case (0); d = a**5 - 2.0 * a**3 + a
       case (1); d = 5.0 * a**4 - 6.0 * a**2 + 1.0
       case (2); d = 20.0 * a**3 - 12.0 * a
       case default; d = 60.0 * a**2 - 12.0
       end select
    case (2)
       select case (n)
       case (0); d = a**4
       case (1); d = 4.0 * a**3
       case (2); d = 12.0 * a**2
       case default; d = 24.0 * a
       end select
    case (3); d = exp(a)
    case (4)
       select case (n)
       case (0); d = log(a)
       case (1); d = 1.0 / a
       case (2); d = -1.0 / a**2
       case default; d = 2.0 / a**3
       end select
    case (5)
       select case (n)
       case (0); d = sqrt(a)
       case (1); d = 0.5 / sqrt(a)
       case (2); d = -0.25 / a**1.5
       case default; d = 0.375 / a**2.5
       end select
    case (6)
       t = tanh(a)
       select case (n)
       case (0); d = t
       case (1); d = 1.0 - t**2
       case (2); d = -2.0 * t * (1.0 - t**2)
       case default; d = (1.0 - t**2) * (6.0 * t**2 - 2.0)
       end select
    case (7)
       t = 1.0 / (1.0 + exp(-a))
       select case (n)
       case (0); d = t
       case (1); d = t * (1.0 - t)
       case (2); d = t * (1.0 - t) * (1.0 - 2.0 * t)
       case default; d = t * (1.0 - t) * (1.0 - 6.0 * t + 6.0 * t**2)
       end select
    case (8)
       select case (n)
       case (0); d = sin(a)
       case (1); d = cos(a)
       case (2); d = -sin(a)
       case default; d = -cos(a)
       end select
    case (9)
       select case (n)
       case (0); d = 1.0 / a
       case (1); d = -1.0 / a**2
       case (2); d = 2.0 / a**3
       case default; d = -6.0 / a**4
       end select
    case (10)
       select case (n)
       case (0); d = cos(a)
       case (1); d = -sin(a)
       case (2); d = -cos(a)
       case default; d = sin(a)
       end select
    case (11)
       t = tan(a)
       q = 1.0 / cos(a)**2
       select case (n)
       case (0); d = t
       case (1); d = q
       case (2); d = 2.0 * q * t
       case default; d = 4.0 * q * t**2 + 2.0 * q**2
       end select
    case (12)
       select case (n)
       case (0); d = log10(a)
       case (1); d = 1.0 / (a * log(10.0))
       case (2); d = -1.0 / (a**2 * log(10.0))
       case default; d = 2.0 / (a**3 * log(10.0))
       end select
    case (13); d = 2.0**a * log(2.0)**n
    case (14)
       select case (n)
       case (0); d = a**2.5
       case (1); d = 2.5 * a**1.5
       case (2); d = 3.75 * sqrt(a)
       case default; d = 1.875 / sqrt(a)
       end select
    case (15)
       z = (a - MU) / SIGMA
       g = exp(-0.5 * z**2) / (sqrt(2.0 * acos(-1.0)) * SIGMA)
       select case (n)
       case (0); d = g
       case (1); d = -z / SIGMA * g
       case (2); d = (z**2 - 1.0) / SIGMA**2 * g
       case default; d = (3.0 * z - z**3) / SIGMA**3 * g
       end select
    case (16); d = (a + n) * exp(a)
    case (17, 18)
       ! u = x/2: asin(u)' = (1/2) (1-u^2)^(-1/2), then (1/4) u (1-u^2)^(-3/2), then
       ! (1/8) (1+2u^2) (1-u^2)^(-5/2); acos's are their negatives
       t = 0.5 * a
       q = 1.0 - t**2
       select case (n)
       case (0); d = asin(t)
       case (1); d = 0.5 / sqrt(q)
       case (2); d = 0.25 * t / q**1.5
       case default; d = 0.125 * (1.0 + 2.0 * t**2) / q**2.5
       end select
       if (code == 18) then
          if (n == 0) then
             d = acos(t)
          else
             d = -d
          end if
       end if
    case (19)
       q = 1.0 + a**2
       select case (n)
       case (0); d = atan(a)
       case (1); d = 1.0 / q
       case (2); d = -2.0 * a / q**2
       case default; d = (6.0 * a**2 - 2.0) / q**3
       end select
    case (20)
       if (mod(n, 2) == 0) then
          d = sinh(a)
       else
          d = cosh(a)
       end if
    case (21)
       if (mod(n, 2) == 0) then
          d = cosh(a)
       else
          d = sinh(a)
       end if
    case default; error stop 'deriv: bad code'
    end select
  end function deriv

  !> Values of the derivative of order n at the current x%val (graphs released).
  function derivative_values(code, n) result(v)
    integer, intent(in) :: code, n
    real(real32) :: v(E, S)
    type(array_type), pointer :: f, d1, d2
    f => make(code)
    select case (n)
    case (0)
       v = f%val
    case (1)
       d1 => f%grad_forward(x)
       v = d1%val
       call release(d1)
    case default
       d1 => f%grad_forward(x)
       d2 => d1%grad_forward(x)
       v = d2%val
       call release(d2)
       call release(d1)
    end select
    call release(f)
  end function derivative_values

  !> Central difference of the derivative of order n, step h.
  function central(code, n, h) result(fd)
    integer, intent(in) :: code, n
    real, intent(in) :: h
    real(real32) :: fd(E, S)
    x%val = x0 + h
    fd = derivative_values(code, n)
    x%val = x0 - h
    fd = (fd - derivative_values(code, n)) / (2.0 * h)
    x%val = x0
  end function central

  subroutine check_function(code)
    integer, intent(in) :: code
    character(len=4), parameter :: prime(3) = ["f'  ", "f'' ", "f'''"]
    type(array_type), pointer :: f, d1, d2, d3
    real(real32) :: v(E, S, 3), fd(E, S), g2(E, S)
    character(len=24) :: name
    integer :: n

    name = FUN_NAMES(code)
    f => make(code)
    call check_close(flat(f%val), flat(deriv(code, 0, x0)), TOL_CF, trim(name) // ': value')
    d1 => f%grad_forward(x)
    d2 => d1%grad_forward(x)
    d3 => d2%grad_forward(x)
    v(:, :, 1) = d1%val
    v(:, :, 2) = d2%val
    v(:, :, 3) = d3%val
    do n = 1, 3
       call check_close(flat(v(:, :, n)), flat(deriv(code, n, x0)), TOL_CF, &
            trim(name) // ': ' // trim(prime(n)) // ' closed form')
    end do

    ! reverse over forward: the gradient of sum(f'(x)) is f''(x) element by element
    call x%zero_grad()
    call d1%grad_reverse()
    g2 = x%grad%val
    call check_close(flat(g2), flat(deriv(code, 2, x0)), TOL_CF, &
         trim(name) // ": f'' by reverse over forward")
    ! and reverse over forward over forward gives f'''
    call x%zero_grad()
    call d2%grad_reverse()
    call check_close(flat(x%grad%val), flat(deriv(code, 3, x0)), TOL_CF, &
         trim(name) // ": f''' by reverse over forward over forward")
    call x%zero_grad()

    call release(d3)
    call release(d2)
    call release(d1)
    call release(f)

    ! each derivative against a central difference of the previous one
    ! (Richardson extrapolation of steps H and H/2: the third derivatives of 1/x and tan at
    ! the points used vary too fast for a plain central difference)
    do n = 1, 3
       fd = (4.0 * central(code, n - 1, H / 2.0) - central(code, n - 1, H)) / 3.0
       call check_close(flat(v(:, :, n)), flat(fd), TOL_FD, &
            trim(name) // ': ' // trim(prime(n)) // ' finite difference')
    end do
  end subroutine check_function

  !> Mixed partials of functions of two one-sample scalars, in both orders.
  subroutine test_mixed_partials()
    type(array_type) :: a, b
    type(array_type), pointer :: f, fa, fb, fab, fba, faba
    real(real32) :: av, bv
    av = 2.0
    bv = 3.0
    call new_variable(a, [av], .true.)
    call new_variable(b, [bv], .true.)

    ! f = a**2 * b**3
    f => a**2 * b**3
    fa => f%grad_forward(a)
    fb => f%grad_forward(b)
    fab => fa%grad_forward(b)
    fba => fb%grad_forward(a)
    faba => fab%grad_forward(a)
    call check_close(f%val(1, 1), av**2 * bv**3, TOL_CF, 'a^2 b^3: value')
    call check_close(fa%val(1, 1), 2.0 * av * bv**3, TOL_CF, 'a^2 b^3: df/da')
    call check_close(fb%val(1, 1), 3.0 * av**2 * bv**2, TOL_CF, 'a^2 b^3: df/db')
    call check_close(fab%val(1, 1), 6.0 * av * bv**2, TOL_CF, 'a^2 b^3: d2f/dadb')
    call check_close(fba%val(1, 1), 6.0 * av * bv**2, TOL_CF, 'a^2 b^3: d2f/dbda')
    call check_close(faba%val(1, 1), 6.0 * bv**2, TOL_CF, 'a^2 b^3: d3f/dadbda')
    call release(faba)
    call release(fab)
    call release(fba)
    call release(fa)
    call release(fb)
    call release(f)

    ! f = sin(a) * b**2 + a / b
    f => sin(a) * b**2 + a / b
    fa => f%grad_forward(a)
    fab => fa%grad_forward(b)
    fb => f%grad_forward(b)
    fba => fb%grad_forward(a)
    call check_close(fa%val(1, 1), cos(av) * bv**2 + 1.0 / bv, TOL_CF, 'sin(a)b^2+a/b: df/da')
    call check_close(fb%val(1, 1), 2.0 * sin(av) * bv - av / bv**2, TOL_CF, &
         'sin(a)b^2+a/b: df/db')
    call check_close(fab%val(1, 1), 2.0 * bv * cos(av) - 1.0 / bv**2, TOL_CF, &
         'sin(a)b^2+a/b: d2f/dadb')
    call check_close(fba%val(1, 1), 2.0 * bv * cos(av) - 1.0 / bv**2, TOL_CF, &
         'sin(a)b^2+a/b: d2f/dbda')
    ! the same mixed partial by reverse over forward: d/db of df/da
    call a%zero_grad()
    call b%zero_grad()
    call fa%grad_reverse()
    call check_close(b%grad%val(1, 1), 2.0 * bv * cos(av) - 1.0 / bv**2, TOL_CF, &
         'sin(a)b^2+a/b: d2f/dadb by reverse over forward')
    call check_close(a%grad%val(1, 1), -sin(av) * bv**2, TOL_CF, &
         'sin(a)b^2+a/b: d2f/da2 by reverse over forward')
    call release(fab)
    call release(fba)
    call release(fa)
    call release(fb)
    call release(f)

    ! f = exp(a * b)
    f => exp(a * b)
    fa => f%grad_forward(a)
    fab => fa%grad_forward(b)
    call check_close(fab%val(1, 1), exp(av * bv) * (1.0 + av * bv), 1.0e-4, 'exp(ab): d2f/dadb')
    call release(fab)
    call release(fa)
    call release(f)

    call a%deallocate()
    call b%deallocate()
  end subroutine test_mixed_partials

  !> f(v) = sum(v**2) * sum(v) + log(sum(exp(v))) for a vector v of three elements:
  !> H(i,j) = 2 d_ij sum(v) + 2 v_i + 2 v_j + d_ij p_i - p_i p_j, with p = softmax(v).
  !> Forward over forward with unit directions e_i then e_j, and reverse over forward (one row
  !> per direction).
  subroutine test_hessian_vector()
    integer, parameter :: N = 3
    type(array_type) :: v
    type(array_type), pointer :: f, d1
    real(real32) :: vv(N), p(N), want(N, N), ff(N, N), rf(N, N), fp(N), fm(N)
    integer :: i, j
    vv = [0.5, -0.3, 1.2]
    p = exp(vv) / sum(exp(vv))
    do j = 1, N
       do i = 1, N
          want(i, j) = 2.0 * vv(i) + 2.0 * vv(j) - p(i) * p(j)
          if (i == j) want(i, j) = want(i, j) + 2.0 * sum(vv) + p(i)
       end do
    end do
    call new_variable(v, vv, .true.)

    f => hessian_function(v)
    call check_close(f%val(1, 1), sum(vv**2) * sum(vv) + log(sum(exp(vv))), TOL_CF, &
         'hessian: f value')
    ! gradient, one direction at a time
    call check_close(forward_gradient(f, v), 2.0 * vv * sum(vv) + sum(vv**2) + p, TOL_CF, &
         'hessian: gradient')
    ! forward over forward
    do i = 1, N
       call v%set_direction(unit_vector(N, i))
       d1 => f%grad_forward(v)
       ff(i, :) = forward_gradient(d1, v)
       call release(d1)
    end do
    call check_close(reshape(ff, [N * N]), reshape(want, [N * N]), TOL_CF, &
         'hessian: forward over forward')
    ! reverse over forward: the gradient of grad(f).e_i is row i
    do i = 1, N
       call v%set_direction(unit_vector(N, i))
       d1 => f%grad_forward(v)
       call v%set_direction([1.0, 1.0, 1.0])
       call d1%grad_reverse(reset_graph=.true.)
       call check(associated(v%grad), 'hessian: v%grad associated after reverse over forward')
       rf(i, :) = v%grad%val(:, 1)
       call v%zero_grad()
       call release(d1)
    end do
    call check_close(reshape(rf, [N * N]), reshape(want, [N * N]), TOL_CF, &
         'hessian: reverse over forward')
    call check(all(abs(rf - transpose(rf)) <= 1.0e-4 * maxval(abs(rf))), 'hessian: symmetric')
    call release(f)
    ! finite differences of the gradient computed by reverse mode
    do j = 1, N
       v%val(:, 1) = vv + H * unit_vector(N, j)
       fp = reverse_gradient(v)
       v%val(:, 1) = vv - H * unit_vector(N, j)
       fm = reverse_gradient(v)
       v%val(:, 1) = vv
       call check_close((fp - fm) / (2.0 * H), want(:, j), TOL_FD, &
            'hessian: column by finite differences of the gradient')
    end do
    call v%deallocate()
  end subroutine test_hessian_vector

  !> sum(v**2) * sum(v) + log(sum(exp(v))), one number per sample.
  function hessian_function(v) result(f)
    type(array_type), intent(in) :: v
    type(array_type), pointer :: f
    f => sum(v**2, dim=1) * sum(v, dim=1) + log(sum(exp(v), dim=1))
  end function hessian_function

  !> The gradient of hessian_function at the current values of v, by reverse mode.
  function reverse_gradient(v) result(g)
    type(array_type), intent(inout) :: v
    real(real32) :: g(3)
    type(array_type), pointer :: f
    f => hessian_function(v)
    call v%zero_grad()
    call f%grad_reverse()
    g = v%grad%val(:, 1)
    call v%zero_grad()
    call release(f)
  end function reverse_gradient

  !> Full 2x2 Hessian of f(a, b) = a**3 * b + exp(a) * b**2 by forward over forward and by
  !> reverse over forward.
  subroutine test_hessian_two_variables()
    type(array_type) :: a, b
    type(array_type), pointer :: f, fa, fb, faa, fab, fba, fbb
    real(real32) :: av, bv, want(2, 2)
    av = 0.7
    bv = -1.4
    want(1, 1) = 6.0 * av * bv + exp(av) * bv**2
    want(1, 2) = 3.0 * av**2 + 2.0 * exp(av) * bv
    want(2, 1) = want(1, 2)
    want(2, 2) = 2.0 * exp(av)
    call new_variable(a, [av], .true.)
    call new_variable(b, [bv], .true.)
    f => a**3 * b + exp(a) * b**2
    fa => f%grad_forward(a)
    fb => f%grad_forward(b)
    faa => fa%grad_forward(a)
    fab => fa%grad_forward(b)
    fba => fb%grad_forward(a)
    fbb => fb%grad_forward(b)
    call check_close([faa%val(1, 1), fba%val(1, 1), fab%val(1, 1), fbb%val(1, 1)], &
         reshape(want, [4]), TOL_CF, 'two-variable hessian: forward over forward')
    call release(faa)
    call release(fab)
    call release(fba)
    call release(fbb)
    ! reverse over forward: rows from the gradients of fa and fb
    call a%zero_grad()
    call b%zero_grad()
    call fa%grad_reverse(reset_graph=.true.)
    call check_close([a%grad%val(1, 1), b%grad%val(1, 1)], want(1, :), TOL_CF, &
         'two-variable hessian: row 1 by reverse over forward')
    call a%zero_grad()
    call b%zero_grad()
    call fb%grad_reverse(reset_graph=.true.)
    call check_close([a%grad%val(1, 1), b%grad%val(1, 1)], want(2, :), TOL_CF, &
         'two-variable hessian: row 2 by reverse over forward')
    call release(fa)
    call release(fb)
    call release(f)
    call a%deallocate()
    call b%deallocate()
  end subroutine test_hessian_two_variables

end program test_higher_order
