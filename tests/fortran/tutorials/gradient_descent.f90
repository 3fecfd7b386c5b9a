program gradient_descent
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: loss
  real :: learning_rate = 0.1
  integer :: epoch

  ! Minimise f(x) = (x - 5)^2
  ! Minimum at x = 5
  call x%allocate([1, 1, 1], source=0.0)  ! Start at x=0
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  do epoch = 1, 50
    ! Forward pass
    loss => (x - 5.0)**2

    ! Backward pass
    call loss%grad_reverse()

    ! Gradient descent update: x = x - lr * grad
    x%val(1, 1) = x%val(1, 1) - learning_rate * x%grad%val(1, 1)

    if (mod(epoch, 10) == 0) then
      write(*,'(A,I3,A,F8.4,A,F8.4)') &
        'Epoch ', epoch, ': x = ', x%val(1, 1), &
        ', loss = ', loss%val(1, 1)
    end if

    ! Cleanup for next iteration
    call x%zero_grad()  ! Reset gradient
    call loss%nullify_graph()
    call loss%deallocate()
    deallocate(loss)
  end do

  write(*,*) 'Final x =', x%val(1, 1)  ! Should be ≈ 5.0

end program gradient_descent
