!> Gradient descent with reverse mode: 1-D (the tutorial's parenthesised `(x - 5.0)**2` and an
!> expanded form) following the closed-form iterates, 2-D problems converging to their known
!> minima, and long build / differentiate / release loops whose number of live core arrays stays
!> constant, for three cleanup styles: `nullify_graph` then `deallocate` (the documented order),
!> `deallocate` alone, and `call f%deallocate()` + `deallocate(f)`.
program test_descent
  use diffstruc
  use test_utils
  implicit none

  integer, parameter :: N_LONG = 20000
  integer :: live0

  live0 = diffstruc_live_arrays()
  call descent_1d(parenthesised=.true.)
  call descent_1d(parenthesised=.false.)
  call descent_vector()
  call descent_coupled()
  call long_loop(1)
  call long_loop(2)
  call long_loop(3)
  call check(diffstruc_live_arrays() == live0, 'live arrays back to start')
  call finish()

contains

  !> Minimise (x - 5)^2 from x = 0 with learning rate 0.1: x_k = 5 - 5 * 0.8**k and the loss
  !> seen at epoch k is 25 * 0.8**(2(k-1)).
  subroutine descent_1d(parenthesised)
    logical, intent(in) :: parenthesised
    type(array_type) :: x
    type(array_type), pointer :: loss
    real :: learning_rate = 0.1
    integer :: epoch, live1
    logical :: iterates_ok, losses_ok
    character(len=20) :: form
    if (parenthesised) then
       form = '(x - 5.0)**2'
    else
       form = 'x**2 - 10.0*x + 25'
    end if

    call x%allocate([1, 1, 1], source=0.0)
    call x%set_requires_grad(.true.)
    x%is_temporary = .false.
    live1 = diffstruc_live_arrays()
    iterates_ok = .true.
    losses_ok = .true.
    do epoch = 1, 50
       if (parenthesised) then
          loss => (x - 5.0)**2
       else
          loss => x**2 - 10.0 * x + 25.0
       end if
       call loss%grad_reverse()
       if (abs(x%grad%val(1, 1) - 2.0 * (x%val(1, 1) - 5.0)) > 1.0e-5) iterates_ok = .false.
       if (abs(loss%val(1, 1) - 25.0 * 0.8**(2 * (epoch - 1))) > 1.0e-4 * max(1.0, loss%val(1, 1))) &
            losses_ok = .false.
       x%val(1, 1) = x%val(1, 1) - learning_rate * x%grad%val(1, 1)
       if (abs(x%val(1, 1) - (5.0 - 5.0 * 0.8**epoch)) > 1.0e-4) iterates_ok = .false.
       call x%zero_grad()
       call loss%nullify_graph()
       call loss%deallocate()
       deallocate(loss)
       ! x's core array and gradient exist from its first use on
       if (epoch == 1) live1 = diffstruc_live_arrays()
    end do
    call check(iterates_ok, trim(form) // ': gradient and iterates follow the closed form')
    call check(losses_ok, trim(form) // ': losses follow the closed form')
    call check_close(x%val(1, 1), 5.0 - 5.0 * 0.8**50, 1.0e-5, trim(form) // ': final x')
    call check(abs(x%val(1, 1) - 5.0) < 1.0e-3, trim(form) // ': converged to 5')
    call check(diffstruc_live_arrays() == live1, trim(form) // ': no growth')
    call x%deallocate()
  end subroutine descent_1d

  !> Minimise sum((p - t)**2) for p of two elements, t = (3, 4): p_k = t (1 - 0.8**k).
  subroutine descent_vector()
    type(array_type) :: params
    type(array_type), pointer :: loss
    real(real32) :: t(2, 1)
    integer :: epoch
    logical :: ok
    t(:, 1) = [3.0, 4.0]
    call new_variable(params, [0.0, 0.0], .true.)
    ok = .true.
    do epoch = 1, 100
       loss => sum((params - t)**2, dim=1)
       call loss%grad_reverse()
       params%val(:, 1) = params%val(:, 1) - 0.1 * params%grad%val(:, 1)
       if (any(abs(params%val(:, 1) - t(:, 1) * (1.0 - 0.8**epoch)) > 1.0e-4)) ok = .false.
       call params%zero_grad()
       call loss%nullify_graph()
       call loss%deallocate()
       deallocate(loss)
    end do
    call check(ok, '2-D sum((p-t)**2): iterates follow the closed form')
    call check_close(params%val(:, 1), [3.0, 4.0], 1.0e-4, '2-D sum((p-t)**2): converged to (3,4)')
    call params%deallocate()
  end subroutine descent_vector

  !> Minimise (a-1)^2 + 2(b+2)^2 + a*b over two scalar variables: minimum at (16/7, -18/7).
  subroutine descent_coupled()
    type(array_type) :: a, b
    type(array_type), pointer :: loss
    integer :: epoch
    real(real32) :: av, bv, ga, gb
    logical :: ok
    call new_variable(a, [0.0], .true.)
    call new_variable(b, [0.0], .true.)
    ok = .true.
    do epoch = 1, 300
       loss => (a - 1.0)**2 + 2.0 * (b + 2.0)**2 + a * b
       call loss%grad_reverse()
       av = a%val(1, 1)
       bv = b%val(1, 1)
       ga = 2.0 * (av - 1.0) + bv
       gb = 4.0 * (bv + 2.0) + av
       if (abs(a%grad%val(1, 1) - ga) > 1.0e-5 .or. abs(b%grad%val(1, 1) - gb) > 1.0e-5) &
            ok = .false.
       a%val(1, 1) = av - 0.1 * a%grad%val(1, 1)
       b%val(1, 1) = bv - 0.1 * b%grad%val(1, 1)
       call a%zero_grad()
       call b%zero_grad()
       call loss%nullify_graph()
       deallocate(loss)
    end do
    call check(ok, 'coupled 2-D: gradients match the closed form at every step')
    call check_close(a%val(1, 1), 16.0 / 7.0, 1.0e-4, 'coupled 2-D: a converged to 16/7')
    call check_close(b%val(1, 1), -18.0 / 7.0, 1.0e-4, 'coupled 2-D: b converged to -18/7')
    call a%deallocate()
    call b%deallocate()
  end subroutine descent_coupled

  !> Many iterations of: build a loss over a batch with shared weights, forward derivative,
  !> reverse gradients, update, release. Cleanup style: 1 = nullify_graph + f%deallocate() +
  !> deallocate(f) (the tutorial's order), 2 = deallocate(f) alone, 3 = f%deallocate() +
  !> deallocate(f).
  subroutine long_loop(style)
    integer, intent(in) :: style
    type(array_type) :: xb, w
    type(array_type), pointer :: loss, dloss
    real(real32) :: t(2, 4), w_start(2)
    integer :: it, live_first, live_before
    character(len=40) :: name
    logical :: grads_ok
    select case (style)
    case (1); name = 'nullify_graph + deallocate'
    case (2); name = 'deallocate alone'
    case default; name = 'f%deallocate() + deallocate(f)'
    end select
    t = reshape([1.0, 2.0, 0.5, -1.0, 2.0, 0.0, -0.5, 1.5], [2, 4])
    w_start = [0.1, -0.2]
    live_before = diffstruc_live_arrays()
    call new_variable(xb, reshape([0.5, 1.0, -1.0, 2.0, 1.5, -0.5, 0.25, 0.75], [2, 4]), .false.)
    call new_variable(w, w_start, .true., sample_dependent=.false.)
    live_first = -1
    grads_ok = .true.
    do it = 1, N_LONG
       loss => mean((xb * w - t)**2) + 0.01 * sum(exp(w * 0.5))
       dloss => loss%grad_forward(w)
       call loss%grad_reverse()
       ! d/dw_i summed over the direction ones equals the forward derivative
       if (abs(dloss%val(1, 1) - sum(w%grad%val)) > 1.0e-4 * max(1.0, abs(dloss%val(1, 1)))) &
            grads_ok = .false.
       w%val(:, 1) = w%val(:, 1) - 0.05 * w%grad%val(:, 1)
       call w%zero_grad()
       select case (style)
       case (1)
          call dloss%nullify_graph()
          call loss%nullify_graph()
          call dloss%deallocate()
          call loss%deallocate()
          deallocate(dloss, loss)
       case (2)
          deallocate(dloss)
          deallocate(loss)
       case default
          call loss%deallocate()
          call dloss%deallocate()
          deallocate(loss, dloss)
       end select
       if (it == 1) live_first = diffstruc_live_arrays()
    end do
    call check(grads_ok, trim(name) // ': forward and reverse agree in every iteration')
    call check(diffstruc_live_arrays() == live_first, trim(name) // ': live arrays constant over ' &
         // 'the loop')
    ! converged to the minimiser: for each i, (1/4) sum_s x(i,s) (x(i,s) w_i - t(i,s))
    ! + 0.005 exp(w_i / 2) = 0 (solved here by Newton's method)
    call check_close(w%val(:, 1), minimiser(xb%val, t), 1.0e-4, trim(name) // ': converged')
    call check(sum(w%grad%val**2) == 0.0, trim(name) // ': gradient cleared after zero_grad')
    call xb%deallocate()
    call w%deallocate()
    call check(diffstruc_live_arrays() == live_before, trim(name) // ': memory returned')
  end subroutine long_loop

  function minimiser(xv, t) result(w)
    real(real32), intent(in) :: xv(2, 4), t(2, 4)
    real(real32) :: w(2)
    double precision :: z, g, dg, sxx, sxt
    integer :: i, k
    do i = 1, 2
       sxx = sum(real(xv(i, :), kind(z))**2)
       sxt = sum(real(xv(i, :), kind(z)) * t(i, :))
       z = 0.0d0
       do k = 1, 50
          g = 0.25d0 * (z * sxx - sxt) + 0.005d0 * exp(0.5d0 * z)
          dg = 0.25d0 * sxx + 0.0025d0 * exp(0.5d0 * z)
          z = z - g / dg
       end do
       w(i) = real(z, real32)
    end do
  end function minimiser

end program test_descent
