!> A small multilayer perceptron trained by gradient descent, written as a diffstruc program:
!> weights shared by the batch (is_sample_dependent = .false.), matmul, tanh, mean, reverse
!> mode, and SGD through %val. The loss must fall, the gradient of a weight must match finite
!> differences, and memory must not grow over the training loop.
program test_mlp
  use diffstruc
  use test_utils, only: check, check_close, finish
  implicit none
  integer, parameter :: n_in = 3, n_hidden = 8, n_out = 2, n_batch = 16, steps = 300
  real(real32), parameter :: lr = 0.2
  type(array_type) :: w1, b1, w2, b2, x, t
  type(array_type), pointer :: loss
  real(real32) :: inputs(n_in, n_batch), targets(n_out, n_batch)
  real(real32) :: first_loss, last_loss, fd, h, saved, analytic
  integer :: step, i, live_after_first

  ! deterministic data: targets are a smooth function of the inputs
  do i = 1, n_batch
     inputs(:, i) = [sin(real(i)), cos(0.7 * real(i)), 0.1 * real(i) - 0.8]
     targets(:, i) = [0.5 * tanh(inputs(1, i) + inputs(2, i)), 0.3 * inputs(3, i)]
  end do
  call parameter(w1, [n_hidden, n_in, 1], 0.3)
  call parameter(b1, [n_hidden, 1], 0.0)
  call parameter(w2, [n_out, n_hidden, 1], 0.2)
  call parameter(b2, [n_out, 1], 0.0)
  call x%allocate(source=inputs)
  call t%allocate(source=targets)
  x%is_temporary = .false.
  t%is_temporary = .false.

  live_after_first = -1
  do step = 1, steps
     loss => forward()
     if (step == 1) first_loss = loss%val(1, 1)
     last_loss = loss%val(1, 1)
     call loss%grad_reverse()
     if (step == 1) analytic = w1%grad%val(4, 1)
     call sgd(w1)
     call sgd(b1)
     call sgd(w2)
     call sgd(b2)
     call loss%nullify_graph()
     deallocate(loss)
     if (step == 1) live_after_first = diffstruc_live_arrays()
  end do
  write(*, '(a, es12.4, a, es12.4)') ' loss: first ', first_loss, ', last ', last_loss
  call check(last_loss < 0.2 * first_loss, 'training: the loss falls below 20% of its start')
  call check(diffstruc_live_arrays() == live_after_first, 'training: memory does not grow')
  call check(w1%grad%val(1, 1) == 0.0, 'zero_grad left the gradient at zero')

  ! the gradient of one weight against a central difference, at the trained point
  loss => forward()
  call loss%grad_reverse()
  analytic = w1%grad%val(4, 1)
  call loss%nullify_graph()
  deallocate(loss)
  h = 1.0e-2
  saved = w1%val(4, 1)
  w1%val(4, 1) = saved + h
  fd = loss_value()
  w1%val(4, 1) = saved - h
  fd = (fd - loss_value()) / (2.0 * h)
  w1%val(4, 1) = saved
  call check_close(analytic, fd, 2.0e-3 + 2.0e-2 * abs(fd), 'dloss/dw1(4): reverse vs finite differences')

  call w1%deallocate(); call b1%deallocate(); call w2%deallocate(); call b2%deallocate()
  call x%deallocate(); call t%deallocate()
  call check(diffstruc_live_arrays() == 0, 'everything released')
  call finish()

contains

  !> A trainable parameter: one sample shared by the batch, deterministic values.
  subroutine parameter(p, array_shape, scale)
    type(array_type), intent(inout) :: p
    integer, intent(in) :: array_shape(:)
    real(real32), intent(in) :: scale
    integer :: k
    call p%allocate(array_shape)
    do k = 1, size(p%val, 1)
       p%val(k, 1) = scale * sin(1.3 * real(k))
    end do
    p%is_sample_dependent = .false.
    p%is_temporary = .false.
    call p%set_requires_grad(.true.)
  end subroutine parameter

  function forward() result(l)
    type(array_type), pointer :: l
    type(array_type), pointer :: hidden, y
    hidden => tanh(matmul(w1, x) + b1)
    y => matmul(w2, hidden) + b2
    l => mean((y - t)**2)
  end function forward

  real(real32) function loss_value()
    type(array_type), pointer :: l
    l => forward()
    loss_value = l%val(1, 1)
    call l%nullify_graph()
    deallocate(l)
  end function loss_value

  subroutine sgd(p)
    type(array_type), intent(inout) :: p
    p%val = p%val - lr * p%grad%val
    call p%zero_grad()
  end subroutine sgd
end program test_mlp
