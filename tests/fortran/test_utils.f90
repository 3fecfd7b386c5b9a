!> Assertions and small helpers shared by the Fortran test programs.
!>
!> `check(cond, message)` and `check_close(got, want, tol, message)` count passes and failures
!> (a failure prints `FAIL: <message>` with the values); `finish()` prints exactly one line
!> `N passed, M failed` and stops with `error stop 1` if anything failed.
!> `check_close` accepts |got - want| <= tol * max(1, |want|) (relative for large values, absolute
!> near zero), for scalars and rank-1 arrays (element by element).
!>
!> Helpers: `new_variable` (a leaf the program owns), `release` (a result and its graph),
!> `flat` (rank 2 to rank 1, for `check_close`), `unit_vector`, and `forward_gradient` (the
!> gradient of a one-number function by one forward pass per unit direction).
module test_utils
  use, intrinsic :: iso_fortran_env, only: real32, real64
  use diffstruc, only: array_type
  implicit none
  private

  public :: check, check_close, finish, n_passed, n_failed
  public :: new_variable, release, flat, unit_vector, forward_gradient, int_str

  integer, save :: n_passed = 0
  integer, save :: n_failed = 0

  interface check_close
     module procedure check_close_scalar, check_close_rank1, check_close_scalar64
  end interface check_close

  !> `new_variable(x, values, requires_grad [, sample_dependent])`: allocates `x` holding
  !> `values` (rank 1: one sample; rank 2: (elements, batch)), sets `requires_grad` and
  !> `is_sample_dependent` (default true), and marks it non-temporary (the program owns it).
  interface new_variable
     module procedure new_variable_rank1, new_variable_rank2
  end interface new_variable

contains

  subroutine record(ok, message)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: message
    if (ok) then
       n_passed = n_passed + 1
    else
       n_failed = n_failed + 1
       write(*, '(a)') 'FAIL: ' // message
    end if
  end subroutine record

  !> Asserts that `cond` is true.
  subroutine check(cond, message)
    logical, intent(in) :: cond
    character(len=*), intent(in) :: message
    call record(cond, message)
  end subroutine check

  logical function close_enough(got, want, tol)
    real(real64), intent(in) :: got, want, tol
    ! NaN compares false, so a NaN result fails
    close_enough = abs(got - want) <= tol * max(1.0_real64, abs(want))
  end function close_enough

  !> Asserts |got - want| <= tol * max(1, |want|).
  subroutine check_close_scalar(got, want, tol, message)
    real(real32), intent(in) :: got, want
    real, intent(in) :: tol
    character(len=*), intent(in) :: message
    logical :: ok
    ok = close_enough(real(got, real64), real(want, real64), real(tol, real64))
    if (.not. ok) write(*, '(a, es16.8, a, es16.8)') '  got ', got, '  want ', want
    call record(ok, message)
  end subroutine check_close_scalar

  subroutine check_close_scalar64(got, want, tol, message)
    real(real64), intent(in) :: got, want
    real, intent(in) :: tol
    character(len=*), intent(in) :: message
    logical :: ok
    ok = close_enough(got, want, real(tol, real64))
    if (.not. ok) write(*, '(a, es16.8, a, es16.8)') '  got ', got, '  want ', want
    call record(ok, message)
  end subroutine check_close_scalar64

  !> Element by element; the sizes must agree.
  subroutine check_close_rank1(got, want, tol, message)
    real(real32), dimension(:), intent(in) :: got, want
    real, intent(in) :: tol
    character(len=*), intent(in) :: message
    logical :: ok
    integer :: i
    ok = size(got) == size(want)
    if (ok) then
       do i = 1, size(got)
          if (.not. close_enough(real(got(i), real64), real(want(i), real64), &
               real(tol, real64))) ok = .false.
       end do
    end if
    if (.not. ok) then
       write(*, '(a, i0, a, i0)') '  sizes ', size(got), ' and ', size(want)
       write(*, '(a, *(es14.6))') '  got  ', got
       write(*, '(a, *(es14.6))') '  want ', want
    end if
    call record(ok, message)
  end subroutine check_close_rank1

  !> Prints `N passed, M failed`; stops with an error if anything failed.
  subroutine finish()
    write(*, '(i0, a, i0, a)') n_passed, ' passed, ', n_failed, ' failed'
    if (n_failed > 0) error stop 1
  end subroutine finish

!-----------------------------------------------------------------------------------------------
! Helpers
!-----------------------------------------------------------------------------------------------

  subroutine new_variable_rank1(x, values, requires_grad, sample_dependent)
    type(array_type), intent(inout) :: x
    real(real32), intent(in) :: values(:)
    logical, intent(in) :: requires_grad
    logical, intent(in), optional :: sample_dependent
    call x%allocate([size(values), 1])
    call x%set(values)
    call finish_variable(x, requires_grad, sample_dependent)
  end subroutine new_variable_rank1

  subroutine new_variable_rank2(x, values, requires_grad, sample_dependent)
    type(array_type), intent(inout) :: x
    real(real32), intent(in) :: values(:,:)
    logical, intent(in) :: requires_grad
    logical, intent(in), optional :: sample_dependent
    call x%allocate([size(values, 1), size(values, 2)])
    x%val = values
    call finish_variable(x, requires_grad, sample_dependent)
  end subroutine new_variable_rank2

  !> The flags of a new variable, after its values.
  subroutine finish_variable(x, requires_grad, sample_dependent)
    type(array_type), intent(inout) :: x
    logical, intent(in) :: requires_grad
    logical, intent(in), optional :: sample_dependent
    type(array_type), pointer :: f
    if (present(sample_dependent)) x%is_sample_dependent = sample_dependent
    if (requires_grad) call x%set_requires_grad(.true.)
    x%is_temporary = .false.
    ! the library makes a variable's core array (and gradient) when it is first used: use it
    ! once, so that the live-array counts the tests take afterwards include them
    f => x * 1.0
    call release(f)
  end subroutine finish_variable

  !> Releases a result: its graph, then the object.
  subroutine release(f)
    type(array_type), pointer, intent(inout) :: f
    call f%nullify_graph()
    deallocate(f)
  end subroutine release

  !> An integer as text, for messages.
  function int_str(i) result(s)
    integer, intent(in) :: i
    character(len=:), allocatable :: s
    character(len=12) :: buf
    write (buf, '(i0)') i
    s = trim(buf)
  end function int_str

  !> A rank-2 array as rank 1 (column major), for `check_close`.
  function flat(a) result(v)
    real(real32), intent(in) :: a(:,:)
    real(real32) :: v(size(a))
    v = reshape(a, [size(a)])
  end function flat

  !> Element i of n set to one, the others zero.
  function unit_vector(n, i) result(e)
    integer, intent(in) :: n, i
    real(real32) :: e(n)
    e = 0.0
    e(i) = 1.0
  end function unit_vector

  !> The gradient of `f`, one number (of the first sample), with respect to the elements of the
  !> variable `v`: one `grad_forward` per unit direction (v keeps the last direction).
  function forward_gradient(f, v) result(g)
    type(array_type), pointer, intent(in) :: f
    type(array_type), intent(inout) :: v
    real(real32) :: g(size(v%val, 1))
    type(array_type), pointer :: df
    integer :: i
    do i = 1, size(g)
       call v%set_direction(unit_vector(size(g), i))
       df => f%grad_forward(v)
       g(i) = df%val(1, 1)
       call release(df)
    end do
  end function forward_gradient

end module test_utils
