program optimise_2d
  use diffstruc
  implicit none

  type(array_type) :: params
  type(array_type), pointer :: loss
  real :: param_vals(2), learning_rate = 0.1
  integer :: epoch

  ! Minimise: (x-3)^2 + (y-4)^2
  ! Minimum at (3, 4)
  param_vals = [0.0, 0.0]  ! Start at origin
  call params%allocate([2, 1])
  call params%set(param_vals)
  call params%set_requires_grad(.true.)
  params%is_temporary = .false.

  do epoch = 1, 100
    ! Extract x and y
    loss => (pack(params,[1], dim=1) - 3.0)**2 + &
            (pack(params,[2], dim=1) - 4.0)**2

    ! Backward pass computes both gradients
    call loss%grad_reverse()

    ! Update both parameters
    params%val(:, 1) = params%val(:, 1) - &
                       learning_rate * params%grad%val(:, 1)

    if (mod(epoch, 20) == 0) then
      write(*,'(A,I3,A,2F8.4,A,F10.6)') &
        'Epoch ', epoch, ': (x,y) = (', params%val(:, 1), &
        '), loss = ', loss%val(1, 1)
    end if

    ! Cleanup
    call params%zero_grad()
    call loss%nullify_graph()
    call loss%deallocate()
    deallocate(loss)
  end do

  write(*,*) 'Final params:', params%val(:, 1)

end program optimise_2d
