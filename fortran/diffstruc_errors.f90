!> Error reporting of module diffstruc: diffstruc's ` ERROR: ` format and `error stop`, or a
!> status for the procedures that take an optional `stat` (an extension).
submodule (diffstruc) diffstruc_errors
  implicit none

contains

  !> The core's message for the last failure on this thread. A subroutine, not a function:
  !> gfortran 12 keeps the length of a deferred-length function result assigned to a variable
  !> in a static temporary, which races between threads.
  subroutine last_error(msg)
    character(len=:), allocatable, intent(out) :: msg
    type(c_ptr) :: p
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    p = ds_last_error()
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(len=n) :: msg)
    do i = 1, n
       msg(i:i) = chars(i)
    end do
  end subroutine last_error

  !> Stops the program with diffstruc's error format.
  module subroutine fatal(where, message)
    character(len=*), intent(in) :: where, message
    if (index(message, where // ': ') == 1) then
       ! the core's message already starts with the operation's name
       write(error_unit, '(a)') ' ERROR: ' // message
    else
       write(error_unit, '(a)') ' ERROR: ' // where // ': ' // message
    end if
    error stop 1
  end subroutine fatal

  !> Records a refused argument (DS_ERR_ARGUMENT) in `o`.
  module subroutine refuse(o, message)
    type(outcome), intent(inout) :: o
    character(len=*), intent(in) :: message
    o%status = 4
    o%message = message
  end subroutine refuse

  !> Records a failed core call in `o`; true if it failed.
  module logical function failed(o, status)
    type(outcome), intent(inout) :: o
    integer(c_int), intent(in) :: status
    failed = status /= DS_OK
    if (failed) then
       o%status = int(status)
       call last_error(o%message)
    end if
  end function failed

  !> Ends a procedure with an optional `stat`: stores the status there, or stops with the
  !> message if the call failed and `stat` is absent.
  module subroutine settle(o, where, stat)
    type(outcome), intent(in) :: o
    character(len=*), intent(in) :: where
    integer, intent(out), optional :: stat
    if (present(stat)) then
       stat = o%status
    else if (o%status /= 0) then
       call fatal(where, o%message)
    end if
  end subroutine settle

  !> Stops with the core's message if a core call failed.
  module subroutine check(status, where)
    integer(c_int), intent(in) :: status
    character(len=*), intent(in) :: where
    character(len=:), allocatable :: msg
    if (status /= DS_OK) then
       call last_error(msg)
       call fatal(where, msg)
    end if
  end subroutine check

  !> `[a, b, c]`, as the core writes shapes in its messages.
  module pure function extents_text(v) result(t)
    integer, dimension(:), intent(in) :: v
    character(len=:), allocatable :: t
    integer :: i
    t = '['
    do i = 1, size(v)
       if (i > 1) t = t // ', '
       t = t // int_text(v(i))
    end do
    t = t // ']'
  end function extents_text

  module pure function int_text(i) result(t)
    integer, intent(in) :: i
    character(len=:), allocatable :: t
    character(len=12) :: buf
    write(buf, '(i0)') i
    t = trim(buf)
  end function int_text

end submodule diffstruc_errors
