!> Reverse mode (`grad_reverse`) on every operation available, with respect to each operand, for
!> a batch of two samples, with the default seed (ones) and with a custom seed written into
!> `f%grad%val`; compared with closed forms and with central finite differences of
!> sum(seed * f) computed by re-evaluating the function at perturbed values (through `x%val`).
!> Also: accumulation across calls, `zero_grad`, `grad_reverse(reset_graph=.true.)`,
!> `zero_all_grads`, leaf gradients readable after `nullify_graph`, variables without
!> `requires_grad`, shared sub-expressions, the gradient of weights shared by a batch (summed
!> over the samples), and broadcasting of one element per sample or one shared column on either
!> side of + - * / ** max.
program test_reverse
  use diffstruc
  use test_utils
  use op_catalogue
  implicit none

  type(array_type) :: x, y
  integer :: live0, live1, code

  live0 = diffstruc_live_arrays()

  call new_variable(x, X0, .true.)
  call new_variable(y, Y0, .true.)
  call check(associated(x%grad), 'a variable has grad after set_requires_grad')
  live1 = diffstruc_live_arrays()

  do code = 1, NOPS
     call check_vjp(code)
  end do
  call check(diffstruc_live_arrays() == live1, 'per-operation loop returns memory')

  call test_accumulation_and_reset()
  call test_zero_all_grads()
  call test_grad_after_nullify()
  call test_no_requires_grad()
  call test_shared_subexpression()
  call test_batch_shared_weights()
  call test_general_broadcast()
  call test_seed_allocated_by_program()

  call x%deallocate()
  call y%deallocate()
  call check(diffstruc_live_arrays() == live0, 'live arrays back to start')
  call finish()

contains

  subroutine check_vjp(code)
    integer, intent(in) :: code
    type(array_type), pointer :: f
    real(real32) :: da(E, S), db(E, S), gx(E, S), gy(E, S)
    real(real32), allocatable :: seed(:,:), ones(:,:)
    character(len=40) :: name
    integer :: i, j

    name = OP_NAMES(code)
    call partials(code, X0, Y0, da, db)
    call x%zero_grad()
    call y%zero_grad()
    call check(all(x%grad%val == 0.0) .and. all(y%grad%val == 0.0), trim(name) // ': zero_grad')

    ! default seed: ones
    f => make(code, x, y)
    allocate(ones(size(f%val, 1), size(f%val, 2)))
    ones = 1.0
    call f%grad_reverse()
    call check(associated(f%grad), trim(name) // ': result has a grad (the seed)')
    if (associated(f%grad)) call check(all(f%grad%val == 1.0), trim(name) // ': seed is ones')
    call check_close(flat(x%grad%val), flat(da * unreduce(code, ones)), TOL_CF, &
         trim(name) // ': d/dx, seed ones, closed form')
    call check_close(flat(y%grad%val), flat(db * unreduce(code, ones)), TOL_CF, &
         trim(name) // ': d/dy, seed ones, closed form')

    ! custom seed written into f%grad%val
    allocate(seed, mold=ones)
    do j = 1, size(seed, 2)
       do i = 1, size(seed, 1)
          seed(i, j) = 0.5 + 0.37 * i - 0.61 * j
       end do
    end do
    call x%zero_grad()
    call y%zero_grad()
    f%grad%val = seed
    call f%grad_reverse()
    gx = x%grad%val
    gy = y%grad%val
    call release(f)
    call check_close(flat(gx), flat(da * unreduce(code, seed)), TOL_CF, &
         trim(name) // ': d/dx, custom seed, closed form')
    call check_close(flat(gy), flat(db * unreduce(code, seed)), TOL_CF, &
         trim(name) // ': d/dy, custom seed, closed form')

    ! finite differences of sum(seed * f), one element at a time
    call check_close(flat(gx), flat(fd_gradient(code, x, y, 1, seed)), TOL_FD, &
         trim(name) // ': d/dx, finite difference')
    call check_close(flat(gy), flat(fd_gradient(code, x, y, 2, seed)), TOL_FD, &
         trim(name) // ': d/dy, finite difference')
  end subroutine check_vjp

  !> Gradients accumulate across calls; zero_grad clears them; reset_graph=.true. restarts from
  !> a seed of ones.
  subroutine test_accumulation_and_reset()
    type(array_type), pointer :: f
    call x%zero_grad()
    call y%zero_grad()
    f => x * y + 2.0 * x
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(Y0 + 2.0), TOL_CF, 'accumulate: first call')
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(2.0 * (Y0 + 2.0)), TOL_CF, &
         'accumulate: second call adds')
    call check_close(flat(y%grad%val), flat(2.0 * X0), TOL_CF, 'accumulate: second call, y')
    call x%zero_grad()
    call check(all(x%grad%val == 0.0), 'zero_grad clears x%grad')
    call check_close(flat(y%grad%val), flat(2.0 * X0), TOL_CF, 'zero_grad on x leaves y%grad')
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(Y0 + 2.0), TOL_CF, 'after zero_grad: one call')
    ! reset_graph: gradients start again from zero, seed back to ones
    call f%grad_reverse(reset_graph=.true.)
    call check_close(flat(x%grad%val), flat(Y0 + 2.0), TOL_CF, 'reset_graph: not accumulated')
    call check_close(flat(y%grad%val), flat(X0), TOL_CF, 'reset_graph: y not accumulated')
    f%grad%val = 3.0
    call f%grad_reverse(reset_graph=.true.)
    call check(all(f%grad%val == 1.0), 'reset_graph: seed is ones again')
    call check_close(flat(x%grad%val), flat(Y0 + 2.0), TOL_CF, 'reset_graph: replaces a custom seed')
    ! custom seed without reset, after zero_grad
    call x%zero_grad()
    call y%zero_grad()
    f%grad%val = 3.0
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(3.0 * (Y0 + 2.0)), TOL_CF, 'custom seed 3: d/dx')
    call release(f)
  end subroutine test_accumulation_and_reset

  !> zero_all_grads zeroes every gradient in the graph, the seed included: a following
  !> grad_reverse without reset propagates zeros.
  subroutine test_zero_all_grads()
    type(array_type), pointer :: f
    call x%zero_grad()
    call y%zero_grad()
    f => exp(x) * y
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(exp(X0) * Y0), TOL_CF, 'zero_all_grads: before')
    call f%zero_all_grads()
    call check(all(x%grad%val == 0.0), 'zero_all_grads: x%grad zero')
    call check(all(y%grad%val == 0.0), 'zero_all_grads: y%grad zero')
    call check(all(f%grad%val == 0.0), 'zero_all_grads: the seed is zero')
    call f%grad_reverse()
    call check(all(x%grad%val == 0.0), 'zero_all_grads: zero seed gives zero gradient')
    call f%grad_reverse(reset_graph=.true.)
    call check_close(flat(x%grad%val), flat(exp(X0) * Y0), TOL_CF, &
         'zero_all_grads then reset_graph: gradient again')
    call check_close(flat(y%grad%val), flat(exp(X0)), TOL_CF, &
         'zero_all_grads then reset_graph: y gradient')
    call release(f)
  end subroutine test_zero_all_grads

  !> Gradients of leaves stay readable after the graph is released.
  subroutine test_grad_after_nullify()
    type(array_type), pointer :: f
    call x%zero_grad()
    call y%zero_grad()
    f => sum(x**2 * y)
    call f%grad_reverse()
    call f%nullify_graph()
    call check(associated(x%grad), 'after nullify_graph: x%grad associated')
    call check_close(flat(x%grad%val), flat(2.0 * X0 * Y0), TOL_CF, 'after nullify_graph: x%grad')
    call check_close(flat(y%grad%val), flat(X0**2), TOL_CF, 'after nullify_graph: y%grad')
    call check_close(f%val(1, 1), sum(X0**2 * Y0), TOL_CF, 'after nullify_graph: f value kept')
    deallocate(f)
    call check_close(flat(x%grad%val), flat(2.0 * X0 * Y0), TOL_CF, 'after deallocate(f): x%grad')
  end subroutine test_grad_after_nullify

  !> A leaf without requires_grad gets no gradient, and nothing flows through it.
  subroutine test_no_requires_grad()
    type(array_type) :: c
    type(array_type), pointer :: f
    call new_variable(c, Y0, .false.)
    call x%zero_grad()
    f => sum(x * c + exp(c))
    call f%grad_reverse()
    call check(.not. associated(c%grad), 'no requires_grad: no gradient')
    call check_close(flat(x%grad%val), flat(Y0), TOL_CF, 'no requires_grad: x gradient')
    call release(f)
    call c%deallocate()
  end subroutine test_no_requires_grad

  !> A result used twice (g = f + f*x with f = x*x) and a variable used several times.
  subroutine test_shared_subexpression()
    type(array_type), pointer :: f, g
    call x%zero_grad()
    call y%zero_grad()
    f => x * x
    f%is_temporary = .false.
    g => f + f * x
    call g%grad_reverse()
    call check_close(flat(x%grad%val), flat(2.0 * X0 + 3.0 * X0**2), TOL_CF, &
         'shared sub-expression: d/dx (x^2 + x^3)')
    call release(g)
    call release(f)
    call x%zero_grad()
    f => x * y + x / y - x
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(Y0 + 1.0 / Y0 - 1.0), TOL_CF, &
         'variable used three times: d/dx')
    call check_close(flat(y%grad%val), flat(X0 - X0 / Y0**2), TOL_CF, &
         'variable used three times: d/dy')
    call release(f)
  end subroutine test_shared_subexpression

  !> Weights and bias shared by a batch of three samples: their gradients are summed over the
  !> samples; the batched input gets per-sample gradients.
  subroutine test_batch_shared_weights()
    type(array_type) :: xb, w, bias
    type(array_type), pointer :: f
    real(real32) :: xv(2, 3), wv(2), bv(2), t(2, 3), r(2, 3)
    xv = reshape([1.0, 2.0, -1.0, 0.5, 3.0, -2.0], [2, 3])
    wv = [0.25, -1.5]
    bv = [0.1, 0.2]
    t = reshape([0.5, 1.0, -0.5, 2.0, 1.5, 0.0], [2, 3])
    call new_variable(xb, xv, .true.)
    call new_variable(w, wv, .true., sample_dependent=.false.)
    call new_variable(bias, bv, .true., sample_dependent=.false.)

    ! sum over everything of x*w
    f => sum(xb * w)
    call f%grad_reverse()
    call check(all(shape(w%grad%val) == [2, 1]), 'shared weight: gradient has one column')
    call check_close(w%grad%val(:, 1), sum(xv, dim=2), TOL_CF, 'shared weight: summed over batch')
    call check_close(flat(xb%grad%val), flat(spread(wv, 2, 3)), TOL_CF, &
         'shared weight: batched input gradient')
    call release(f)

    ! mean squared error of x*w + b against targets
    call w%zero_grad()
    call xb%zero_grad()
    r = xv * spread(wv, 2, 3) + spread(bv, 2, 3) - t
    f => mean((xb * w + bias - t)**2)
    call check_close(f%val(1, 1), sum(r**2) / 6.0, TOL_CF, 'mse: value')
    call f%grad_reverse()
    call check_close(w%grad%val(:, 1), sum(2.0 * r * xv, dim=2) / 6.0, TOL_CF, 'mse: d/dw')
    call check_close(bias%grad%val(:, 1), sum(2.0 * r, dim=2) / 6.0, TOL_CF, 'mse: d/db')
    call check_close(flat(xb%grad%val), flat(2.0 * r * spread(wv, 2, 3) / 6.0), TOL_CF, &
         'mse: d/dx per sample')
    call release(f)

    ! weights on the left of the product
    call w%zero_grad()
    f => sum(w * xb)
    call check_close(f%val(1, 1), sum(xv * spread(wv, 2, 3)), TOL_CF, 'w*x: value')
    call f%grad_reverse()
    call check_close(w%grad%val(:, 1), sum(xv, dim=2), TOL_CF, 'w*x: d/dw summed over batch')
    call release(f)

    call xb%deallocate()
    call w%deallocate()
    call bias%deallocate()
  end subroutine test_batch_shared_weights

  !> One element per sample (p: [1] with batch S) and one column shared by the batch (w: [E],
  !> batch 1, not sample dependent) on either side of each binary operator of the catalogue.
  subroutine test_general_broadcast()
    integer, parameter :: codes(6) = [1, 2, 3, 4, 5, 39]
    character(len=4), parameter :: ops(6) = ['+   ', '-   ', '*   ', '/   ', '**  ', 'max ']
    type(array_type) :: xa, pa, wa
    real(real32) :: pe(E, S), we(E, S)
    integer :: k
    pe = spread([0.6, 1.4], 1, E)
    we = spread([0.9, 1.5, 0.75], 2, S)
    call new_variable(xa, X0, .true.)
    call new_variable(pa, pe(1:1, :), .true.)
    call new_variable(wa, we(:, 1:1), .true., sample_dependent=.false.)
    do k = 1, 6
       call check_broadcast(codes(k), ops(k), xa, pa, X0, pe, 'x', 'p')
       call check_broadcast(codes(k), ops(k), pa, xa, pe, X0, 'p', 'x')
       call check_broadcast(codes(k), ops(k), xa, wa, X0, we, 'x', 'w')
       call check_broadcast(codes(k), ops(k), wa, xa, we, X0, 'w', 'x')
    end do
    call xa%deallocate()
    call pa%deallocate()
    call wa%deallocate()
  end subroutine test_general_broadcast

  !> make(code, a, b) for operands a and b whose values spread to (E, S) are ae and be: the
  !> extents and values of the result, the extents of both gradients, and the gradients against
  !> central differences of sum(a op b).
  subroutine check_broadcast(code, op, a, b, ae, be, a_name, b_name)
    integer, intent(in) :: code
    character(len=*), intent(in) :: op, a_name, b_name
    type(array_type), intent(inout) :: a, b
    real(real32), intent(in) :: ae(E, S), be(E, S)
    type(array_type), pointer :: f
    real(real32), allocatable :: ga(:,:), gb(:,:)
    character(len=40) :: label
    label = 'broadcast ' // a_name // ' ' // trim(op) // ' ' // b_name
    call a%zero_grad()
    call b%zero_grad()
    f => make(code, a, b)
    call check(all(shape(f%val) == [E, S]), trim(label) // ': extents')
    if (.not. all(shape(f%val) == [E, S])) then
       call release(f)
       return
    end if
    call check_close(flat(f%val), flat(value_of(code, ae, be)), TOL_CF, trim(label) // ': value')
    call f%grad_reverse()
    call release(f)
    ga = a%grad%val
    gb = b%grad%val
    call check(all(shape(ga) == shape(a%val)), trim(label) // ': d/d' // a_name // ' extents')
    call check(all(shape(gb) == shape(b%val)), trim(label) // ': d/d' // b_name // ' extents')
    call check_close(flat(ga), flat(fd_gradient(code, a, b, 1)), TOL_FD, &
         trim(label) // ': d/d' // a_name)
    call check_close(flat(gb), flat(fd_gradient(code, a, b, 2)), TOL_FD, &
         trim(label) // ': d/d' // b_name)
  end subroutine check_broadcast

  !> A seed set before the first grad_reverse, in a gradient the program allocates itself
  !> (`allocate(f%grad)`; diffstruc frees it with f, since `owns_gradient` is true by default).
  subroutine test_seed_allocated_by_program()
    type(array_type), pointer :: f
    integer :: live
    live = diffstruc_live_arrays()
    call x%zero_grad()
    call y%zero_grad()
    f => x * y
    call check(.not. associated(f%grad), 'a result has no grad before grad_reverse')
    allocate(f%grad)
    call f%grad%allocate([E, S], source=0.5)
    call f%grad_reverse()
    call check_close(flat(x%grad%val), flat(0.5 * Y0), TOL_CF, 'seed in a program-allocated grad: d/dx')
    call check_close(flat(y%grad%val), flat(0.5 * X0), TOL_CF, 'seed in a program-allocated grad: d/dy')
    call f%nullify_graph()
    call f%deallocate()
    deallocate(f)
    call check(diffstruc_live_arrays() == live, 'seed in a program-allocated grad: memory returned')
  end subroutine test_seed_allocated_by_program

end program test_reverse
