!> Forward mode (`grad_forward`) on every operation available, with respect to each operand,
!> along unit and general directions, for a batch of two samples; compared with closed forms and
!> with central finite differences computed by re-evaluating the function at perturbed values
!> (written through `x%val`). Also: gradient entries of a scalar function one direction at a
!> time, a directional derivative, a variable that is an intermediate node, a function that does
!> not depend on the variable (zeros), and non-sample-dependent weights broadcast over a batch.
program test_forward
  use diffstruc
  use test_utils
  use op_catalogue
  implicit none

  type(array_type) :: x, y
  real(real32) :: dirs(E, 4)
  integer :: live0, live1, code, k, wrt

  live0 = diffstruc_live_arrays()

  do k = 1, E
     dirs(:, k) = unit_vector(E, k)
  end do
  dirs(:, 4) = [0.3, -1.2, 0.8]

  call new_variable(x, X0, .true.)
  call new_variable(y, Y0, .true.)
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

  subroutine check_value(code)
    integer, intent(in) :: code
    type(array_type), pointer :: f
    real(real32), allocatable :: want(:,:)
    integer :: per_sample
    character(len=16) :: name
    character(len=12) :: what
    name = OP_NAMES(code)
    f => make(code, x, y)
    want = reduce(code, value_of(code, X0, Y0))
    call check(all(shape(f%val) == shape(want)), trim(name) // ': result extents')
    if (all(shape(f%val) == shape(want))) &
         call check_close(flat(f%val), flat(want), TOL_CF, trim(name) // ': value')
    call check(f%requires_grad, trim(name) // ': result requires_grad')
    ! per-sample shape and batch flag of the reductions
    call check(allocated(f%shape), trim(name) // ': shape allocated')
    select case (code)
    case (41, 43, 44, 46)
       per_sample = 1
       what = 'shape [1]'
    case (42, 45)
       per_sample = E
       what = 'shape [E]'
       call check(.not. f%is_sample_dependent, trim(name) // ': not sample dependent')
    case default
       per_sample = E
       what = 'shape of x'
    end select
    if (allocated(f%shape)) call check(size(f%shape) == 1 .and. all(f%shape == [per_sample]), &
         trim(name) // ': ' // trim(what))
    call release(f)
  end subroutine check_value

  !> J.v with respect to x (wrt = 1) or y (wrt = 2) along direction v (shared by all samples).
  subroutine check_jvp(code, wrt, v)
    integer, intent(in) :: code, wrt
    real(real32), intent(in) :: v(E)
    type(array_type), pointer :: f, df
    real(real32), allocatable :: got(:,:), want(:,:)
    real(real32) :: da(E, S), db(E, S), vb(E, S)
    character(len=80) :: label

    write(label, '(a, a, a, a, 3f5.1, a)') trim(OP_NAMES(code)), ' d/d', &
         merge('x', 'y', wrt == 1), ' along [', v, ']'
    vb = spread(v, 2, S)
    f => make(code, x, y)
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
    call partials(code, X0, Y0, da, db)
    want = reduce(code, merge(da, db, wrt == 1) * vb)
    call check(all(shape(got) == shape(want)), trim(label) // ': extents')
    if (.not. all(shape(got) == shape(want))) return
    call check_close(flat(got), flat(want), TOL_CF, trim(label) // ': closed form')

    ! central finite difference along v
    call check_close(flat(got), flat(fd_directional(code, x, y, wrt, vb)), TOL_FD, &
         trim(label) // ': finite difference')
  end subroutine check_jvp

  !> Each gradient entry of a scalar function from one call per unit direction, and a
  !> directional derivative, for one-sample arrays.
  subroutine test_gradient_entries()
    type(array_type) :: a, b
    type(array_type), pointer :: f, df
    real(real32) :: av(3), bv(3), g(3), fp, fm, v(3)
    integer :: i
    av = [0.5, -1.0, 2.0]
    bv = [1.5, 0.25, -0.75]
    call new_variable(a, av, .true.)
    call new_variable(b, bv, .true.)

    f => entries_function(a, b)
    call check(all(shape(f%val) == [1, 1]), 'gradient entries: f is one number')
    call check_close(f%val(1, 1), sum(av**2 * bv + sin(av)), TOL_CF, 'gradient entries: f value')
    g = forward_gradient(f, a)
    call check_close(g, 2.0 * av * bv + cos(av), TOL_CF, 'gradient entries: df/da_i, closed form')
    do i = 1, 3
       a%val(:, 1) = av + H * unit_vector(3, i)
       fp = entries_value(a, b)
       a%val(:, 1) = av - H * unit_vector(3, i)
       fm = entries_value(a, b)
       a%val(:, 1) = av
       call check_close(g(i), (fp - fm) / (2.0 * H), TOL_FD, &
            'gradient entries: df/da_i, finite difference')
    end do
    ! the same with respect to b
    g = forward_gradient(f, b)
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

  !> f = sum(a**2 * b + sin(a)) over the elements of the sample.
  function entries_function(a, b) result(f)
    type(array_type), intent(in) :: a, b
    type(array_type), pointer :: f
    f => sum(a**2 * b + sin(a), dim=1)
  end function entries_function

  !> The value of entries_function(a, b) (the graph is released).
  real(real32) function entries_value(a, b)
    type(array_type), intent(in) :: a, b
    type(array_type), pointer :: f
    f => entries_function(a, b)
    entries_value = f%val(1, 1)
    call release(f)
  end function entries_value

  !> The variable is an intermediate result u = a*a: df/du of f = sin(u) + u*b.
  subroutine test_intermediate_variable()
    type(array_type) :: a, b
    type(array_type), pointer :: u, f, df, dfa
    real(real32) :: av(2), bv(2), uv(2)
    av = [0.8, -1.3]
    bv = [2.0, 0.5]
    uv = av * av
    call new_variable(a, av, .true.)
    call new_variable(b, bv, .false.)

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
    real(real32) :: ones(3, 2)
    ones = 1.0
    call new_variable(a, 1.5 * ones, .true.)
    call new_variable(b, 0.5 * ones, .true.)
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
    call new_variable(xb, xv, .true.)
    call new_variable(w, wv, .true., sample_dependent=.false.)

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
    call check_close(flat(d1%val), flat(Y0 + exp(X0)), TOL_CF, 'two calls: df/dx')
    call check_close(flat(d2%val), flat(X0), TOL_CF, 'two calls: df/dy')
    call release(d1)
    call release(d2)
    call release(f)
  end subroutine test_second_call_same_graph

end program test_forward
