!> Fuzzer of the Fortran module's object semantics: a byte stream is read as a program over
!> `array_type` objects (variables, operation results held by pointers, and an allocatable
!> array of derived-type holders that the program copies the ways compilers do), and every
!> step is checked against a shadow model in plain reals.
!>
!> All arrays have per-sample shape [3] and batch 2. The shadow keeps, for every live object,
!> its values and the derivative of each value with respect to the same element of `x0` (the
!> operations are element-wise, so that is the whole Jacobian): after each step every value is
!> compared, and a `check` step compares reverse mode (`x0%grad`) and forward mode
!> (`grad_forward(x0)`) with the shadow derivative. Objects whose derivative the model cannot
!> predict (a raw copy that outlived its original becomes a leaf) are checked for values only.
!>
!> Usage: fuzz_fortran FILE...        run each file as a program
!>        fuzz_fortran --random SEED N   run N programs from a generator seeded with SEED
!> Any mismatch prints the program's steps and stops with an error (exit code 1); the library's
!> own errors stop the program with their message. Run under valgrind for memory errors.
module fuzz_model
  use diffstruc
  implicit none
  private
  public :: run_program, n_steps, n_checks

  integer, parameter :: n = 6, nv = 4, np = 4, nh = 3
  real, parameter :: tol = 1e-4

  type :: holder
     type(array_type) :: a
     integer :: tag = 0
  end type holder

  type :: box
     type(array_type), pointer :: p => null()
  end type box

  !> The shadow of one object.
  type :: shadow
     logical :: live = .false.
     !> values and d(value)/d(x0, same element)
     real :: v(n) = 0, d(n) = 0
     !> derivative predictable by the model
     logical :: known = .true.
     !> a leaf (allocated or written by the program): its copies are new leaves
     logical :: leaf = .true.
     !> a consumed temporary result: only `deallocate` may touch it now
     logical :: consumed = .false.
     !> the results (bits: their step numbers) whose nodes this value's graph goes through; a
     !> `nullify_graph` of one of them cuts the graph (the derivative is no longer predicted)
     integer(8) :: deps = 0
     integer :: id = 0
  end type shadow

  type(array_type), target :: x0
  type(array_type), target :: vs(nv)
  type(box) :: ps(np)
  type(holder), allocatable, target :: hs(:)
  type(shadow) :: sx, sv(nv), sp(np), sh(nh)
  integer(1), allocatable :: bytes(:)
  integer :: at, step
  !> statistics: steps run, gradient checks made (reverse and forward)
  integer, save :: n_steps = 0, n_checks = 0
  character(len=:), allocatable :: trace

contains

  !> The next byte of the program as 0..255 (0 once the program is exhausted).
  integer function next()
    if (at > size(bytes)) then
       next = 0
    else
       next = iand(int(bytes(at)), 255)
    end if
    at = at + 1
  end function next

  !> Six values in [-2, 2] from the program.
  function values() result(v)
    real :: v(n)
    integer :: i
    do i = 1, n
       v(i) = real(next() - 128) / 64.0
    end do
  end function values

  subroutine note(text)
    character(len=*), intent(in) :: text
    trace = trace // text // new_line('a')
  end subroutine note

  subroutine fail(text)
    character(len=*), intent(in) :: text
    integer :: unit
    ! the program, to replay it (and, minimised, add it to fortran/corpus)
    open (newunit=unit, file='fuzz_fortran_crash.bin', access='stream', form='unformatted', &
         status='replace', action='write')
    write (unit) bytes
    close (unit)
    write (*, '(a)') 'fuzz_fortran: MISMATCH: ' // text // ' (program in fuzz_fortran_crash.bin)'
    write (*, '(a)') 'program so far:'
    write (*, '(a)') trace
    error stop 1
  end subroutine fail

  subroutine set_array(x, v)
    type(array_type), intent(inout) :: x
    real, intent(in) :: v(n)
    if (x%allocated) call x%deallocate()
    call x%allocate([3, 2], source=reshape(v, [3, 2]))
  end subroutine set_array

  !> Runs one program; returns after releasing everything, checking that nothing is left.
  subroutine run_program(program_bytes)
    integer(1), intent(in) :: program_bytes(:)
    integer :: op, steps, live0
    bytes = program_bytes
    at = 1
    trace = ''
    live0 = diffstruc_live_arrays()
    call set_array(x0, values())
    call x0%set_requires_grad(.true.)
    x0%is_temporary = .false.
    sx = shadow(live=.true., v=reshape(x0%val, [n]), d=1.0, leaf=.true.)
    allocate(hs(nh))
    steps = 0
    do while (at <= size(bytes) .and. steps < 62)
       steps = steps + 1
       step = steps
       n_steps = n_steps + 1
       op = mod(next(), 9)
       select case (op)
       case (0)
          call step_new_variable()
       case (1, 2)
          call step_operation()
       case (3)
          call step_assign()
       case (4)
          call step_write()
       case (5)
          call step_holders()
       case (6)
          call step_release()
       case (7)
          call step_check_gradients()
       case (8)
          call step_flags()
       end select
       call check_values()
    end do
    call release_all()
    call diffstruc_release_retired()
    if (diffstruc_live_arrays() /= live0) call fail('arrays left after the program released all')
  end subroutine run_program

  !> A source object: 0 x0, 1..nv variables, then results, then holders (any live one).
  subroutine pick_source(kind, i, ok)
    integer, intent(out) :: kind, i
    logical, intent(out) :: ok
    integer :: k, tries
    ok = .false.
    do tries = 1, 8
       k = mod(next(), 1 + nv + np + nh)
       if (k == 0) then
          kind = 0
          i = 0
          ok = .true.
       else if (k <= nv) then
          kind = 1
          i = k
          ok = sv(i)%live
       else if (k <= nv + np) then
          kind = 2
          i = k - nv
          ok = sp(i)%live .and. .not. sp(i)%consumed
       else
          kind = 3
          i = k - nv - np
          ok = sh(i)%live
       end if
       if (ok) return
    end do
    kind = 0
    i = 0
    ok = .true.
  end subroutine pick_source

  function source_ptr(kind, i) result(p)
    integer, intent(in) :: kind, i
    type(array_type), pointer :: p
    select case (kind)
    case (0)
       p => x0
    case (1)
       p => vs(i)
    case (2)
       p => ps(i)%p
    case default
       p => hs(i)%a
    end select
  end function source_ptr

  function source_name(kind, i) result(s)
    integer, intent(in) :: kind, i
    character(len=:), allocatable :: s
    select case (kind)
    case (0)
       s = 'x0'
    case (1)
       s = 'vs(' // itoa(i) // ')'
    case (2)
       s = 'ps(' // itoa(i) // ')'
    case default
       s = 'hs(' // itoa(i) // ')%a'
    end select
  end function source_name

  function source_shadow(kind, i) result(s)
    integer, intent(in) :: kind, i
    type(shadow) :: s
    select case (kind)
    case (0)
       s = sx
    case (1)
       s = sv(i)
    case (2)
       s = sp(i)
    case default
       s = sh(i)
    end select
  end function source_shadow

  !> A result consumed by an operation belongs to the consumer (diffstruc's rule), unless the
  !> program marked it not temporary.
  subroutine consume(kind, i)
    integer, intent(in) :: kind, i
    if (kind == 2) then
       if (ps(i)%p%is_temporary) sp(i)%consumed = .true.
    end if
  end subroutine consume

  subroutine step_new_variable()
    integer :: i
    real :: v(n)
    i = 1 + mod(next(), nv)
    v = values()
    call note('vs(' // itoa(i) // ') = new variable')
    call set_array(vs(i), v)
    vs(i)%is_temporary = .false.
    if (mod(next(), 2) == 0) call vs(i)%set_requires_grad(.true.)
    sv(i) = shadow(live=.true., v=v, d=0.0, leaf=.true., deps=ibset(0_8, step), id=step)
  end subroutine step_new_variable

  subroutine step_operation()
    integer :: j, ka, ia, kb, ib, kind
    logical :: ok
    type(array_type), pointer :: a, b, r, old
    type(shadow) :: s, t, u, olds
    real :: c
    j = 1 + mod(next(), np)
    kind = mod(next(), 6)
    call pick_source(ka, ia, ok)
    call pick_source(kb, ib, ok)
    a => source_ptr(ka, ia)
    b => source_ptr(kb, ib)
    s = source_shadow(ka, ia)
    t = source_shadow(kb, ib)
    c = real(next() - 128) / 64.0
    u = shadow(live=.true., known=s%known .and. t%known, leaf=.false., &
         deps=ibset(ior(s%deps, t%deps), step), id=step)
    select case (kind)
    case (0)
       call note('ps(' // itoa(j) // ') => ' // source_name(ka, ia) // ' + ' // source_name(kb, ib))
       r => a + b
       u%v = s%v + t%v
       u%d = s%d + t%d
    case (1)
       call note('ps(' // itoa(j) // ') => ' // source_name(ka, ia) // ' - ' // source_name(kb, ib))
       r => a - b
       u%v = s%v - t%v
       u%d = s%d - t%d
    case (2)
       call note('ps(' // itoa(j) // ') => ' // source_name(ka, ia) // ' * ' // source_name(kb, ib))
       r => a * b
       u%v = s%v * t%v
       u%d = s%d * t%v + s%v * t%d
    case (3)
       call note('ps(' // itoa(j) // ') => tanh(' // source_name(ka, ia) // ')')
       r => tanh(a)
       u%v = tanh(s%v)
       u%d = (1 - u%v**2) * s%d
    case (4)
       call note('ps(' // itoa(j) // ') => sin(' // source_name(ka, ia) // ')')
       r => sin(a)
       u%v = sin(s%v)
       u%d = cos(s%v) * s%d
    case default
       call note('ps(' // itoa(j) // ') => ' // source_name(ka, ia) // ' * c')
       r => a * c
       u%v = s%v * c
       u%d = s%d * c
    end select
    call consume(ka, ia)
    if (kind <= 2) call consume(kb, ib)
    ! the slot's previous result is released after the new one is in place (its
    ! nullify_graph may cut the new result's graph)
    old => ps(j)%p
    olds = sp(j)
    ps(j)%p => r
    if (mod(next(), 2) == 0) ps(j)%p%is_temporary = .false.
    sp(j) = u
    call release_result(old, olds)
  end subroutine step_operation

  !> Value assignment to a variable or a holder's component.
  subroutine step_assign()
    integer :: ks, is, i
    logical :: ok
    type(shadow) :: s
    type(array_type), pointer :: src
    call pick_source(ks, is, ok)
    src => source_ptr(ks, is)
    s = source_shadow(ks, is)
    if (s%leaf .and. .not. (ks == 0)) s%d = 0.0
    if (ks == 0) s%d = 0.0
    s%live = .true.
    s%consumed = .false.
    s%deps = ibset(s%deps, step)
    s%id = step
    if (mod(next(), 2) == 0) then
       i = 1 + mod(next(), nv)
       if (ks == 1 .and. is == i) return
       call note('vs(' // itoa(i) // ') = ' // source_name(ks, is))
       vs(i) = src
       vs(i)%is_temporary = .false.
       sv(i) = s
    else
       i = 1 + mod(next(), nh)
       if (ks == 3 .and. is == i) return
       call note('hs(' // itoa(i) // ')%a = ' // source_name(ks, is))
       hs(i)%a = src
       hs(i)%a%is_temporary = .false.
       sh(i) = s
    end if
    call consume(ks, is)
  end subroutine step_assign

  !> The program writes the values of a leaf variable.
  subroutine step_write()
    integer :: i
    real :: v(n)
    i = 1 + mod(next(), nv)
    v = values()
    if (.not. (sv(i)%live .and. sv(i)%leaf)) return
    call note('vs(' // itoa(i) // ')%val = values')
    vs(i)%val = reshape(v, [3, 2])
    sv(i)%v = v
    ! the next use copies the values into the variable's core array, which the graphs built
    ! from it read too (diffstruc: the same): their derivatives are no longer predicted
    call cut(sv(i)%id)
    sv(i)%id = step
    sv(i)%deps = ibset(0_8, step)
  end subroutine step_write

  !> Copies of the holder array, the ways a compiler copies derived types.
  subroutine step_holders()
    type(holder), allocatable :: twin(:)
    integer :: how, i
    how = mod(next(), 4)
    select case (how)
    case (0)
       ! intrinsic assignment of the whole array: each component by defined assignment (the
       ! standard; flang), or copied raw (gfortran 12), and then the originals go
       call note('twin = hs; move_alloc(twin, hs)')
       twin = hs
       call move_alloc(twin, hs)
       do i = 1, nh
          if (.not. sh(i)%leaf) sh(i)%known = .false.
       end do
    case (1)
       ! allocate(source=) then move_alloc: raw copies; the originals go
       call note('allocate(twin, source=hs); move_alloc(twin, hs)')
       allocate(twin, source=hs)
       call move_alloc(twin, hs)
       do i = 1, nh
          if (.not. sh(i)%leaf) sh(i)%known = .false.
       end do
    case (2)
       ! a raw copy kept while the original lives, then dropped
       call note('allocate(twin, source=hs); deallocate(twin)')
       allocate(twin, source=hs)
       do i = 1, nh
          if (sh(i)%live) then
             if (maxval(abs(reshape(twin(i)%a%val, [n]) - sh(i)%v)) > tol) &
                  call fail('raw copy of a holder has other values')
          end if
       end do
       deallocate(twin)
    case default
       ! a holder released and made again empty
       i = 1 + mod(next(), nh)
       call note('hs(' // itoa(i) // ')%a%deallocate()')
       if (hs(i)%a%allocated) call hs(i)%a%deallocate()
       sh(i) = shadow()
    end select
  end subroutine step_holders

  !> A result released by the program: deallocate, with or without nullify_graph first (also
  !> a consumed one: that release is the consumer's, and must be harmless).
  subroutine step_release()
    integer :: j
    j = 1 + mod(next(), np)
    if (.not. associated(ps(j)%p)) return
    call note('release ps(' // itoa(j) // ')')
    call drop_result(j)
  end subroutine step_release

  subroutine drop_result(j)
    integer, intent(in) :: j
    type(array_type), pointer :: p
    type(shadow) :: s
    p => ps(j)%p
    s = sp(j)
    ps(j)%p => null()
    sp(j) = shadow()
    call release_result(p, s)
  end subroutine drop_result

  !> Releases a result the program holds: deallocate, after nullify_graph half the time (not
  !> for a consumed one, whose graph is its consumer's).
  subroutine release_result(p, s)
    type(array_type), pointer, intent(inout) :: p
    type(shadow), intent(in) :: s
    if (.not. associated(p)) return
    if (.not. s%consumed .and. mod(next(), 2) == 0) then
       call p%nullify_graph()
       call cut(s%id)
    end if
    deallocate(p)
  end subroutine release_result

  !> Every value whose graph went through result `id`'s node loses its predicted derivative.
  subroutine cut(id)
    integer, intent(in) :: id
    integer :: i
    if (id == 0) return
    do i = 1, nv
       if (btest(sv(i)%deps, id)) sv(i)%known = .false.
    end do
    do i = 1, np
       if (btest(sp(i)%deps, id)) sp(i)%known = .false.
    end do
    do i = 1, nh
       if (btest(sh(i)%deps, id)) sh(i)%known = .false.
    end do
  end subroutine cut

  !> Requires-grad flags changed on a copy of a leaf: never changes what x0 gets.
  subroutine step_flags()
    integer :: i
    i = 1 + mod(next(), nv)
    ! (on leaves only: clearing the flag of an intermediate cuts the graphs through it)
    if (.not. (sv(i)%live .and. sv(i)%leaf)) return
    call note('vs(' // itoa(i) // ')%set_requires_grad(...)')
    call vs(i)%set_requires_grad(mod(next(), 2) == 0)
  end subroutine step_flags

  !> Reverse and forward mode on a live result against the shadow derivative.
  subroutine step_check_gradients()
    integer :: j
    type(array_type), pointer :: df
    j = 1 + mod(next(), np)
    if (.not. associated(ps(j)%p)) return
    if (sp(j)%consumed .or. .not. sp(j)%known) return
    call note('check gradients of ps(' // itoa(j) // ')')
    n_checks = n_checks + 1
    if (associated(x0%grad)) call x0%zero_grad()
    if (associated(ps(j)%p%grad)) ps(j)%p%grad%val = 1.0
    call ps(j)%p%grad_reverse()
    if (.not. associated(x0%grad)) then
       if (any(sp(j)%d /= 0)) call fail('reverse mode: x0 has no gradient')
    else if (.not. close(reshape(x0%grad%val, [n]), sp(j)%d)) then
       call fail('reverse mode: ' // numbers(reshape(x0%grad%val, [n])) // ' want ' // &
            numbers(sp(j)%d))
    end if
    df => ps(j)%p%grad_forward(x0)
    if (.not. close(reshape(df%val, [n]), sp(j)%d)) &
         call fail('forward mode: ' // numbers(reshape(df%val, [n])) // ' want ' // &
         numbers(sp(j)%d))
    call df%nullify_graph()
    deallocate(df)
  end subroutine step_check_gradients

  subroutine check_values()
    integer :: i
    if (.not. close(reshape(x0%val, [n]), sx%v)) call fail('x0 changed')
    do i = 1, nv
       if (sv(i)%live) then
          if (.not. close(reshape(vs(i)%val, [n]), sv(i)%v)) &
               call fail('vs(' // itoa(i) // ') values ' // numbers(reshape(vs(i)%val, [n])))
       end if
    end do
    do i = 1, np
       if (sp(i)%live .and. .not. sp(i)%consumed) then
          if (.not. close(reshape(ps(i)%p%val, [n]), sp(i)%v)) &
               call fail('ps(' // itoa(i) // ') values ' // numbers(reshape(ps(i)%p%val, [n])))
       end if
    end do
    do i = 1, nh
       if (sh(i)%live) then
          if (.not. close(reshape(hs(i)%a%val, [n]), sh(i)%v)) &
               call fail('hs(' // itoa(i) // ') values ' // numbers(reshape(hs(i)%a%val, [n])))
       end if
    end do
  end subroutine check_values

  subroutine release_all()
    integer :: i
    do i = 1, np
       call drop_result(i)
    end do
    do i = 1, nv
       if (vs(i)%allocated) call vs(i)%deallocate()
       sv(i) = shadow()
    end do
    deallocate(hs)
    sh = shadow()
    call x0%deallocate()
  end subroutine release_all

  logical function close(a, b)
    real, intent(in) :: a(:), b(:)
    close = all(abs(a - b) <= tol * max(1.0, abs(b)))
  end function close

  function itoa(i) result(s)
    integer, intent(in) :: i
    character(len=:), allocatable :: s
    character(len=12) :: buf
    write (buf, '(i0)') i
    s = trim(buf)
  end function itoa

  function numbers(v) result(s)
    real, intent(in) :: v(:)
    character(len=:), allocatable :: s
    character(len=200) :: buf
    write (buf, '(*(es11.3))') v
    s = trim(buf)
  end function numbers

end module fuzz_model

program fuzz_fortran
  use fuzz_model, only: run_program, n_steps, n_checks
  implicit none
  integer :: i, nargs, unit, length, runs, r, k
  integer(8) :: state
  character(len=4096) :: arg
  integer(1), allocatable :: prog(:)
  nargs = command_argument_count()
  if (nargs == 0) error stop 'usage: fuzz_fortran FILE... | --random SEED N'
  call get_command_argument(1, arg)
  if (trim(arg) == '--random') then
     call get_command_argument(2, arg)
     read (arg, *) state
     call get_command_argument(3, arg)
     read (arg, *) runs
     do r = 1, runs
        allocate(prog(64 + mod(r * 37, 400)))
        do k = 1, size(prog)
           ! 64-bit linear congruential generator (Knuth's MMIX constants), high byte
           state = state * 6364136223846793005_8 + 1442695040888963407_8
           prog(k) = int(iand(ishft(state, -56), 255_8) - 128, 1)
        end do
        call run_program(prog)
        deallocate(prog)
     end do
     write (*, '(a, i0, a, i0, a, i0, a)') 'fuzz_fortran: ', runs, ' random programs passed (', &
          n_steps, ' steps, ', n_checks, ' gradient checks)'
  else
     do i = 1, nargs
        call get_command_argument(i, arg)
        open (newunit=unit, file=trim(arg), access='stream', form='unformatted', &
             status='old', action='read')
        inquire (unit=unit, size=length)
        allocate(prog(length))
        if (length > 0) read (unit) prog
        close (unit)
        call run_program(prog)
        deallocate(prog)
     end do
     write (*, '(a, i0, a, i0, a, i0, a)') 'fuzz_fortran: ', nargs, ' programs passed (', &
          n_steps, ' steps, ', n_checks, ' gradient checks)'
  end if
end program fuzz_fortran
