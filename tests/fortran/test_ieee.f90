!> NaN and Inf inputs (docs/errors.md, "NaN and Inf"): every operation returns the IEEE value,
!> in values, forward mode and reverse mode, and nothing traps or stops the program.
!>
!> x = [NaN, +Inf, -Inf, 0, -1, 2] (one sample of 6) and y = [1, 0, 0, 0, NaN, 2] go through
!> exp, log (of 0 and negatives), sqrt (of negatives), tanh and sigmoid (of +-Inf), division
!> (by zero, 0/0), 0 * Inf, max with NaN, sums with Inf and a matmul with Inf. Each result is
!> checked element by element with a pattern: 'n' NaN, 'p' +Inf, 'm' -Inf, 'v' the finite value
!> given, '.' not checked (documented in docs/errors.md where it matters).
program test_ieee
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan, ieee_positive_inf, &
       ieee_negative_inf, ieee_is_nan, ieee_is_finite, ieee_get_halting_mode, ieee_invalid, &
       ieee_divide_by_zero, ieee_overflow
  use diffstruc
  use test_utils
  implicit none
  real :: nan, inf
  integer :: live

  nan = ieee_value(1.0, ieee_quiet_nan)
  inf = ieee_value(1.0, ieee_positive_inf)
  live = diffstruc_live_arrays()

  call test_unary()
  call test_binary()
  call test_sums()
  call test_matmul()
  call test_no_traps()
  call check(diffstruc_live_arrays() == live, 'every array released')
  call finish()

contains

  !> `got` matches `kinds` ('n', 'p', 'm', 'v', '.') and, where 'v', `want` within 1e-6.
  subroutine expect(got, kinds, want, message)
    real, dimension(:), intent(in) :: got
    character(len=*), intent(in) :: kinds
    real, dimension(:), intent(in) :: want
    character(len=*), intent(in) :: message
    logical :: ok
    integer :: i
    ok = size(got) == len(kinds) .and. size(want) == len(kinds)
    if (ok) then
       do i = 1, len(kinds)
          select case (kinds(i:i))
          case ('n')
             ok = ok .and. ieee_is_nan(got(i))
          case ('p')
             ok = ok .and. .not. ieee_is_finite(got(i)) .and. .not. ieee_is_nan(got(i)) &
                  .and. got(i) > 0.0
          case ('m')
             ok = ok .and. .not. ieee_is_finite(got(i)) .and. .not. ieee_is_nan(got(i)) &
                  .and. got(i) < 0.0
          case ('v')
             ok = ok .and. ieee_is_finite(got(i))
             if (ieee_is_finite(got(i))) &
                  ok = ok .and. abs(got(i) - want(i)) <= 1e-6 * max(1.0, abs(want(i)))
          end select
       end do
    end if
    if (.not. ok) then
       write(*, '(a, a)') '  pattern ', kinds
       write(*, '(a, *(1x, g0))') '  got', got
       write(*, '(a, *(1x, g0))') '  want', want
    end if
    call check(ok, message)
  end subroutine expect

  !> A variable of one sample holding `values`, requiring a gradient.
  subroutine variable(x, values)
    type(array_type), intent(inout) :: x
    real, dimension(:), intent(in) :: values
    call new_variable(x, values, .true.)
  end subroutine variable

  !> `f`'s values, its forward derivative along x (ones) and x's reverse gradient (seed ones)
  !> against three patterns; releases f.
  subroutine modes(f, x, kinds, want, fkinds, fwant, name)
    type(array_type), pointer, intent(inout) :: f
    type(array_type), intent(inout) :: x
    character(len=*), intent(in) :: kinds, fkinds
    real, dimension(:), intent(in) :: want, fwant
    character(len=*), intent(in) :: name
    type(array_type), pointer :: df
    call expect(f%val(:, 1), kinds, want, name // ': values')
    df => f%grad_forward(x)
    call expect(df%val(:, 1), fkinds, fwant, name // ': forward mode')
    call release(df)
    call x%zero_grad()
    call f%grad_reverse()
    call expect(x%grad%val(:, 1), fkinds, fwant, name // ': reverse mode')
    call release(f)
  end subroutine modes

  subroutine test_unary()
    type(array_type) :: x
    type(array_type), pointer :: f
    real :: s1, s2, t1, t2
    call variable(x, [nan, inf, -inf, 0.0, -1.0, 2.0])

    f => exp(x)
    call modes(f, x, 'npvvvv', [0.0, 0.0, 0.0, 1.0, exp(-1.0), exp(2.0)], &
         'npvvvv', [0.0, 0.0, 0.0, 1.0, exp(-1.0), exp(2.0)], 'exp')
    ! log(0) = -Inf, log of a negative = NaN; d log = 1/x: +Inf at 0
    f => log(x)
    call modes(f, x, 'npnmnv', [0.0, 0.0, 0.0, 0.0, 0.0, log(2.0)], &
         'nvvpvv', [0.0, 0.0, 0.0, 0.0, -1.0, 0.5], 'log')
    ! sqrt of a negative = NaN; d sqrt = 1/(2 sqrt x): +Inf at 0, NaN for negatives
    f => sqrt(x)
    call modes(f, x, 'npnvnv', [0.0, 0.0, 0.0, 0.0, 0.0, sqrt(2.0)], &
         'nvnpnv', [0.0, 0.0, 0.0, 0.0, 0.0, 0.5 / sqrt(2.0)], 'sqrt')
    ! tanh(+-Inf) = +-1 with slope 0
    t1 = tanh(-1.0)
    t2 = tanh(2.0)
    f => tanh(x)
    call modes(f, x, 'nvvvvv', [0.0, 1.0, -1.0, 0.0, t1, t2], &
         'nvvvvv', [0.0, 0.0, 0.0, 1.0, 1.0 - t1**2, 1.0 - t2**2], 'tanh')
    ! sigmoid(+Inf) = 1, sigmoid(-Inf) = 0, slope 0 at both
    s1 = 1.0 / (1.0 + exp(1.0))
    s2 = 1.0 / (1.0 + exp(-2.0))
    f => sigmoid(x)
    call modes(f, x, 'nvvvvv', [0.0, 1.0, 0.0, 0.5, s1, s2], &
         'nvvvvv', [0.0, 0.0, 0.0, 0.25, s1 * (1.0 - s1), s2 * (1.0 - s2)], 'sigmoid')
    ! sin(+-Inf) = NaN
    f => sin(x)
    call expect(f%val(:, 1), 'nnnvvv', [0.0, 0.0, 0.0, 0.0, sin(-1.0), sin(2.0)], 'sin: values')
    call release(f)
    call x%deallocate()
  end subroutine test_unary

  subroutine test_binary()
    type(array_type) :: x, y
    type(array_type), pointer :: f, df
    call variable(x, [nan, inf, -inf, 0.0, -1.0, 2.0])
    call variable(y, [1.0, 0.0, 0.0, 0.0, nan, 2.0])

    ! division: Inf/0 = Inf, -Inf/0 = -Inf, 0/0 = NaN; d/dx = 1/y, d/dy = -x/y**2
    f => x / y
    call modes(f, x, 'npmnnv', [0.0, 0.0, 0.0, 0.0, 0.0, 1.0], &
         'vpppnv', [1.0, 0.0, 0.0, 0.0, 0.0, 0.5], 'x / y (d/dx)')
    f => x / y
    call modes(f, y, 'npmnnv', [0.0, 0.0, 0.0, 0.0, 0.0, 1.0], &
         'nmpnnv', [0.0, 0.0, 0.0, 0.0, 0.0, -0.5], 'x / y (d/dy)')
    ! a real divisor of 0
    f => x / 0.0
    call expect(f%val(:, 1), 'npmnmp', [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 'x / 0.0: values')
    call release(f)

    ! 0 * Inf = NaN, NaN * anything = NaN; d/dx = y, d/dy = x
    f => x * y
    call modes(f, x, 'nnnvnv', [0.0, 0.0, 0.0, 0.0, 0.0, 4.0], &
         'vvvvnv', [1.0, 0.0, 0.0, 0.0, 0.0, 2.0], 'x * y (d/dx)')
    f => x * y
    call modes(f, y, 'nnnvnv', [0.0, 0.0, 0.0, 0.0, 0.0, 4.0], &
         'npmvvv', [0.0, 0.0, 0.0, 0.0, -1.0, 2.0], 'x * y (d/dy)')
    f => 0.0 * x
    call expect(f%val(:, 1), 'nnnvvv', [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], '0.0 * x: values')
    call release(f)

    ! max propagates NaN from either side. Its derivative is checked where it is defined
    ! (no NaN, no tie): at a NaN the gradient is 0 for both operands (docs/errors.md).
    f => max(x, y)
    call expect(f%val(:, 1), 'npvvnv', [0.0, 0.0, 0.0, 0.0, 0.0, 2.0], 'max(x, y): values')
    df => f%grad_forward(x)
    call expect(df%val(:, 1), '.vv...', [0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 'max(x, y): d/dx')
    call release(df)
    call y%zero_grad()
    call f%grad_reverse()
    call expect(y%grad%val(:, 1), '.vv...', [0.0, 0.0, 1.0, 0.0, 0.0, 0.0], 'max(x, y): d/dy')
    call release(f)
    f => max(x, 1.0)
    call expect(f%val(:, 1), 'npvvvv', [0.0, 0.0, 1.0, 1.0, 1.0, 2.0], 'max(x, 1.0): values')
    call release(f)

    ! x ** 0 = 1 for every x, NaN and Inf included
    f => x ** 0.0
    call expect(f%val(:, 1), 'vvvvvv', [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], 'x ** 0.0: values')
    call release(f)
    call x%deallocate()
    call y%deallocate()
  end subroutine test_binary

  subroutine test_sums()
    type(array_type) :: a
    type(array_type), pointer :: f
    ! two samples: [Inf, 1] and [2, -Inf]
    call new_variable(a, reshape([inf, 1.0, 2.0, -inf], [2, 2]), .true.)
    f => sum(a, 1)
    call expect(f%val(1, :), 'pm', [0.0, 0.0], 'sum(a, 1): Inf + 1, 2 - Inf')
    call release(f)
    f => mean(a, 2)
    call expect(f%val(:, 1), 'pm', [0.0, 0.0], 'mean(a, 2): (Inf + 2)/2, (1 - Inf)/2')
    call release(f)
    ! Inf + (-Inf) = NaN; the gradient of a sum is ones whatever the values
    f => sum(a)
    call expect(f%val(:, 1), 'n', [0.0], 'sum(a): Inf - Inf')
    call f%grad_reverse()
    call expect(reshape(a%grad%val, [4]), 'vvvv', [1.0, 1.0, 1.0, 1.0], 'sum(a): reverse mode')
    call release(f)
    call a%deallocate()
  end subroutine test_sums

  subroutine test_matmul()
    type(array_type) :: m, u
    type(array_type), pointer :: f, df
    ! m = [[Inf, 0], [1, 1]] (per-sample shape [2, 2]), u = [0, 1]: m u = [Inf*0 + 0, 1]
    call m%allocate([2, 2, 1])
    m%val(:, 1) = [inf, 1.0, 0.0, 1.0]
    call m%set_requires_grad(.true.)
    m%is_temporary = .false.
    call variable(u, [0.0, 1.0])
    f => matmul(m, u)
    call expect(f%val(:, 1), 'nv', [0.0, 1.0], 'matmul: Inf * 0 = NaN')
    df => f%grad_forward(u)
    call expect(df%val(:, 1), 'pv', [0.0, 2.0], 'matmul: forward mode along u (m [1, 1])')
    call release(df)
    call f%grad_reverse()
    call expect(u%grad%val(:, 1), 'pv', [0.0, 1.0], 'matmul: reverse mode, d/du = m^T 1')
    call expect(m%grad%val(:, 1), 'vvvv', [0.0, 0.0, 1.0, 1.0], &
         'matmul: reverse mode, d/dm = 1 u^T')
    call release(f)
    call m%deallocate()
    call u%deallocate()
  end subroutine test_matmul

  !> The library leaves the floating-point environment alone: no trap was enabled, so the
  !> invalid operations and divisions by zero above ran to completion.
  subroutine test_no_traps()
    logical :: halting
    call ieee_get_halting_mode(ieee_invalid, halting)
    call check(.not. halting, 'no trap on invalid operations')
    call ieee_get_halting_mode(ieee_divide_by_zero, halting)
    call check(.not. halting, 'no trap on division by zero')
    call ieee_get_halting_mode(ieee_overflow, halting)
    call check(.not. halting, 'no trap on overflow')
  end subroutine test_no_traps

end program test_ieee
