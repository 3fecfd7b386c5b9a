!> Assertions shared by the Fortran test programs.
!>
!> `check(cond, message)` and `check_close(got, want, tol, message)` count passes and failures
!> (a failure prints `FAIL: <message>` with the values); `finish()` prints exactly one line
!> `N passed, M failed` and stops with `error stop 1` if anything failed.
!> `check_close` accepts |got - want| <= tol * max(1, |want|) (relative for large values, absolute
!> near zero), for scalars and rank-1 arrays (element by element).
module test_utils
  use, intrinsic :: iso_fortran_env, only: real32, real64
  implicit none
  private

  public :: check, check_close, finish, n_passed, n_failed

  integer, save :: n_passed = 0
  integer, save :: n_failed = 0

  interface check_close
     module procedure check_close_scalar, check_close_rank1, check_close_scalar64
  end interface check_close

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

end module test_utils
