!> The catalogue of operations that the forward and reverse tests differentiate: every
!> operation form diffstruc offers, numbered 1 to NOPS, built from two operands of extents
!> (E, S) (a batch of S samples of E elements) by `make(code, x, y)`, with the closed forms of
!> its values (`value_of`), its element-wise partial derivatives (`partials`) and its final
!> reduction and the adjoint of that reduction (`reduce`, `unreduce`, codes 41-46), and the
!> values X0, Y0 on which the closed forms are checked (inside every operation's domain).
!>
!> Central differences of the catalogue, re-evaluating `make` at perturbed values written
!> through an operand's `val` (and restored): `fd_directional` (derivative along a direction)
!> and `fd_gradient` (gradient of sum(seed * f), element by element). Step H; the tests compare
!> with tolerance TOL_FD (and the closed forms with TOL_CF).
module op_catalogue
  use, intrinsic :: iso_fortran_env, only: real64
  use diffstruc  ! and its real32, which may be coreutils'
  use test_utils, only: release
  implicit none
  private

  public :: E, S, NOPS, H, TOL_FD, TOL_CF, X0, Y0
  public :: OP_NAMES, make, op_values, value_of, partials, reduce, unreduce
  public :: fd_directional, fd_gradient

  integer, parameter :: E = 3, S = 2, NOPS = 51
  real, parameter :: H = 1.0e-2        ! finite-difference step
  real, parameter :: TOL_FD = 3.0e-3   ! vs finite differences
  real, parameter :: TOL_CF = 2.0e-5   ! vs closed forms (single precision arithmetic)
  real(real32), parameter :: MU = 0.9, SIGMA = 0.6

  !> The operations by code.
  character(len=16), parameter :: OP_NAMES(NOPS) = [character(len=16) :: &
       'x+y', 'x-y', 'x*y', 'x/y', 'x**y', 'x**3', 'x**2.5', '2.0**x', '3**x', &
       'x+2.0', '2.0+x', 'x-2.0', '2.0-x', '-x', 'x*3.0', '3.0*x', 'x/4.0', '4.0/x', &
       'x+r1(E)', 'r1(E)+x', 'x+r2', 'r2+x', 'x-r2', 'x*r2', 'r2*x', 'x-r1(S)', 'x/r1(S)', &
       'exp', 'log', 'log10', 'sqrt', 'abs(x-1)', 'sigmoid', 'gaussian', 'sin', 'cos', &
       'tan', 'tanh', 'max(x,y)', 'max(x,0.5)', 'sum(x,1)', 'sum(x,2)', 'sum(x)', &
       'mean(x,1)', 'mean(x,2)', 'mean(x)', 'asin(x/2)', 'acos(x/2)', 'atan', 'sinh', 'cosh']

  !> The operands' values, and the constant operands of the mixed forms.
  real(real32), parameter :: X0(E, S) = reshape([0.7, 1.3, 0.4, 1.1, 0.6, 1.8], [E, S])
  real(real32), parameter :: Y0(E, S) = reshape([1.5, 0.8, 2.1, 0.9, 1.7, 1.2], [E, S])
  real(real32), parameter :: R2(E, S) = reshape([0.5, -1.5, 2.0, 1.25, 0.75, -0.5], [E, S])
  real(real32), parameter :: R1E(E) = [0.5, -1.0, 2.0]
  real(real32), parameter :: R1S(S) = [0.8, 2.5]

contains

  !> The operation `code` applied to the operands x and y (most forms use x only).
  function make(code, x, y) result(f)
    integer, intent(in) :: code
    type(array_type), intent(inout) :: x, y
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
    case (19); f => x + R1E
    case (20); f => R1E + x
    case (21); f => x + R2
    case (22); f => R2 + x
    case (23); f => x - R2
    case (24); f => x * R2
    case (25); f => R2 * x
    case (26); f => x - R1S
    case (27); f => x / R1S
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
    case (47); f => asin(x * 0.5)
    case (48); f => acos(x * 0.5)
    case (49); f => atan(x)
    case (50); f => sinh(x)
    case (51); f => cosh(x)
    case default; error stop 'make: bad code'
    end select
  end function make

  !> Values of make(code, x, y) for the current values of x and y (the graph is released).
  function op_values(code, x, y) result(v)
    integer, intent(in) :: code
    type(array_type), intent(inout) :: x, y
    real(real32), allocatable :: v(:,:)
    type(array_type), pointer :: f
    f => make(code, x, y)
    v = f%val
    call release(f)
  end function op_values

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
    case (19, 20); v = a + spread(R1E, 2, S)
    case (21, 22); v = a + R2
    case (23); v = a - R2
    case (24, 25); v = a * R2
    case (26); v = a - spread(R1S, 1, E)
    case (27); v = a / spread(R1S, 1, E)
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
    case (47); v = asin(a * 0.5)
    case (48); v = acos(a * 0.5)
    case (49); v = atan(a)
    case (50); v = sinh(a)
    case (51); v = cosh(a)
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
    case (24, 25); da = R2
    case (27); da = 1.0 / spread(R1S, 1, E)
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
    case (47); da = 0.5 / sqrt(1.0 - (0.5 * a)**2)
    case (48); da = -0.5 / sqrt(1.0 - (0.5 * a)**2)
    case (49); da = 1.0 / (1.0 + a**2)
    case (50); da = cosh(a)
    case (51); da = sinh(a)
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

  !> (f(v + H dv) - f(v - H dv)) / 2H, in double precision, for f = make(code, x, y) and v the
  !> values of operand `wrt` (1: x, 2: y), written into its `val` and restored.
  function central_difference(code, x, y, wrt, dv) result(fd)
    integer, intent(in) :: code, wrt
    type(array_type), intent(inout) :: x, y
    real(real32), intent(in) :: dv(:,:)
    real(real64), allocatable :: fd(:,:)
    real(real32), allocatable :: v0(:,:)
    if (wrt == 1) then
       v0 = x%val
       x%val = v0 + H * dv
       fd = op_values(code, x, y)
       x%val = v0 - H * dv
       fd = (fd - op_values(code, x, y)) / (2.0_real64 * H)
       x%val = v0
    else
       v0 = y%val
       y%val = v0 + H * dv
       fd = op_values(code, x, y)
       y%val = v0 - H * dv
       fd = (fd - op_values(code, x, y)) / (2.0_real64 * H)
       y%val = v0
    end if
  end function central_difference

  !> The derivative of make(code, x, y) along `dv` of operand `wrt` (1: x, 2: y), by a central
  !> difference: what `grad_forward` gives with that direction.
  function fd_directional(code, x, y, wrt, dv) result(fd)
    integer, intent(in) :: code, wrt
    type(array_type), intent(inout) :: x, y
    real(real32), intent(in) :: dv(:,:)
    real(real32), allocatable :: fd(:,:)
    fd = real(central_difference(code, x, y, wrt, dv), real32)
  end function fd_directional

  !> The gradient of sum(seed * make(code, x, y)) with respect to each element of operand `wrt`
  !> (1: x, 2: y), by central differences: what `grad_reverse` gives with that seed (ones if
  !> absent).
  function fd_gradient(code, x, y, wrt, seed) result(g)
    integer, intent(in) :: code, wrt
    type(array_type), intent(inout) :: x, y
    real(real32), intent(in), optional :: seed(:,:)
    real(real32), allocatable :: g(:,:), dv(:,:)
    integer :: i, j
    if (wrt == 1) then
       allocate(dv, mold=x%val)
    else
       allocate(dv, mold=y%val)
    end if
    allocate(g, mold=dv)
    do j = 1, size(dv, 2)
       do i = 1, size(dv, 1)
          dv = 0.0
          dv(i, j) = 1.0
          if (present(seed)) then
             g(i, j) = real(sum(real(seed, real64) * central_difference(code, x, y, wrt, dv)), &
                  real32)
          else
             g(i, j) = real(sum(central_difference(code, x, y, wrt, dv)), real32)
          end if
       end do
    end do
  end function fd_gradient

end module op_catalogue
