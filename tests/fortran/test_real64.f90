!> real64 arrays through the module (an extension): an array allocated from real64 data keeps
!> its values in `val64` and every operation computes in double precision.
!>  * Every operation form of the catalogue that takes array operands (all but the real32
!>    vector and matrix operand forms) on real64 operands: values against the real32 closed
!>    forms, and, against central differences in real64 (step 1e-5, tolerance 1e-7, beyond
!>    real32's reach): reverse mode (`grad%val64`), forward mode, forward over forward.
!>  * real64 scalars keep their precision; `x%grad%val64` is the core's gradient buffer.
program test_real64
  use diffstruc
  use test_utils
  use op_catalogue, only: E, S, NOPS, X0, Y0, TOL_CF, OP_NAMES, make, value_of, reduce
  implicit none
  real(real64), parameter :: HD = 1.0e-5_real64, TOL = 1.0e-7_real64
  integer :: code, live
  live = diffstruc_live_arrays()
  do code = 1, NOPS
     if (code >= 19 .and. code <= 27) cycle  ! real32 vector and matrix operands
     call check_operation(code)
  end do
  call test_precision_and_gradient_buffer()
  call diffstruc_release_retired()
  call check(diffstruc_live_arrays() == live, 'real64: no array left alive')
  call finish()
contains

  !> Values of operation `code` at real64 operand values `a`, `b` (the graph released).
  function eval(code, a, b) result(v)
    integer, intent(in) :: code
    real(real64), intent(in) :: a(E, S), b(E, S)
    real(real64), allocatable :: v(:,:)
    type(array_type) :: x, y
    type(array_type), pointer :: f
    call x%allocate(source=a)
    call y%allocate(source=b)
    f => make(code, x, y)
    v = f%val64
    call release(f)
    call x%deallocate()
    call y%deallocate()
  end function eval

  !> Forward-mode derivative along ones of operand `which` at `a`, `b`.
  function tangent(code, which, a, b) result(v)
    integer, intent(in) :: code, which
    real(real64), intent(in) :: a(E, S), b(E, S)
    real(real64), allocatable :: v(:,:)
    type(array_type), target :: x, y
    type(array_type), pointer :: f, df, var
    call x%allocate(source=a)
    call y%allocate(source=b)
    var => x
    if (which == 2) var => y
    call var%set_requires_grad(.true.)
    f => make(code, x, y)
    df => f%grad_forward(var)
    v = df%val64
    call release(df)
    call release(f)
    call x%deallocate()
    call y%deallocate()
  end function tangent

  subroutine check_operation(code)
    integer, intent(in) :: code
    real(real64) :: a(E, S), b(E, S), p(E, S), m(E, S)
    real(real64), allocatable :: fd(:,:), g(:,:), seedsum(:,:)
    type(array_type), target :: x, y
    type(array_type), pointer :: f, root, df, d2f, var
    character(len=:), allocatable :: name
    integer :: which, i, j, nvar
    name = trim(OP_NAMES(code))
    a = real(X0, real64)
    b = real(Y0, real64)
    ! values: the real32 closed forms (to their precision)
    seedsum = eval(code, a, b)
    call check(maxval(abs(real(seedsum, real32) - reduce(code, value_of(code, X0, Y0)))) &
         <= TOL_CF * max(1.0, maxval(abs(reduce(code, value_of(code, X0, Y0))))), &
         name // ': values')
    nvar = 1
    if (code <= 5 .or. code == 39) nvar = 2
    do which = 1, nvar
       ! reverse mode: gradient of sum(f), element by element against central differences
       call x%allocate(source=a)
       call y%allocate(source=b)
       var => x
       if (which == 2) var => y
       call var%set_requires_grad(.true.)
       f => make(code, x, y)
       root => sum(f)
       call root%grad_reverse()
       g = var%grad%val64
       allocate(fd(E, S))
       do j = 1, S
          do i = 1, E
             p = a; m = a
             if (which == 2) then
                p = b; m = b
             end if
             p(i, j) = p(i, j) + HD
             m(i, j) = m(i, j) - HD
             if (which == 1) then
                fd(i, j) = (sum(eval(code, p, b)) - sum(eval(code, m, b))) / (2 * HD)
             else
                fd(i, j) = (sum(eval(code, a, p)) - sum(eval(code, a, m))) / (2 * HD)
             end if
          end do
       end do
       call check(maxval(abs(g - fd)) <= TOL * max(1.0_real64, maxval(abs(fd))), &
            name // ': reverse d/d' // merge('x', 'y', which == 1))
       ! forward mode along ones, and forward over forward
       df => f%grad_forward(var)
       d2f => df%grad_forward(var)
       if (which == 1) then
          fd = (eval(code, a + HD, b) - eval(code, a - HD, b)) / (2 * HD)
       else
          fd = (eval(code, a, b + HD) - eval(code, a, b - HD)) / (2 * HD)
       end if
       call check(maxval(abs(df%val64 - fd)) <= TOL * max(1.0_real64, maxval(abs(fd))), &
            name // ': forward d/d' // merge('x', 'y', which == 1))
       if (which == 1) then
          fd = (tangent(code, 1, a + HD, b) - tangent(code, 1, a - HD, b)) / (2 * HD)
       else
          fd = (tangent(code, 2, a, b + HD) - tangent(code, 2, a, b - HD)) / (2 * HD)
       end if
       call check(maxval(abs(d2f%val64 - fd)) <= 10 * TOL * max(1.0_real64, maxval(abs(fd))), &
            name // ': forward over forward')
       deallocate(fd)
       call release(d2f)
       call release(df)
       call release(root)
       call release(f)
       call x%deallocate()
       call y%deallocate()
    end do
  end subroutine check_operation

  subroutine test_precision_and_gradient_buffer()
    type(array_type) :: x
    type(array_type), pointer :: f, l
    real(real64) :: v(3, 1)
    v(:, 1) = [1.0_real64 / 3, 0.1_real64, 1.0e-12_real64]
    call x%allocate(source=v)
    call check(allocated(x%val64) .and. .not. allocated(x%val), 'real64: values in val64')
    call x%set_requires_grad(.true.)
    ! 1 + 1e-12 and 0.1 + 0.1 are not real32 numbers: nothing is rounded to real32
    f => x + 0.1_real64
    call check(all(f%val64(:, 1) == v(:, 1) + 0.1_real64), 'real64: x + 0.1_real64 exact')
    call release(f)
    f => x * 2.0
    call check(all(f%val64(:, 1) == 2 * v(:, 1)), 'real64: real32 scalar')
    ! the gradient buffer is the core's: a value written into it is accumulated onto
    l => sum(f * f)
    call l%grad_reverse()
    call check(all(abs(x%grad%val64(:, 1) - 8 * v(:, 1)) <= 1e-15_real64), &
         'real64: d/dx sum((2x)^2) = 8x')
    x%grad%val64 = 1.0_real64
    call l%grad_reverse()
    call check(all(abs(x%grad%val64(:, 1) - (1 + 8 * v(:, 1))) <= 1e-15_real64), &
         'real64: reverse mode accumulates into grad%val64')
    call release(l)
    call release(f)
    ! a program write to val64 is seen by the next operation
    x%val64(1, 1) = 5.0_real64
    f => x - 5.0_real64
    call check(f%val64(1, 1) == 0.0_real64, 'real64: val64 writes are synced')
    call release(f)
    call x%deallocate()
  end subroutine test_precision_and_gradient_buffer
end program test_real64
