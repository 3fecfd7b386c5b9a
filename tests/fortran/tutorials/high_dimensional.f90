program high_dimensional
  use diffstruc
  implicit none

  type(array_type) :: params
  type(array_type), pointer :: loss
  real :: param_vals(1000)
  integer :: i

  ! Initialise 1000 parameters
  do i = 1, 1000
    param_vals(i) = real(i) / 1000.0
  end do

  call params%allocate([1000, 1, 1])
  call params%set(param_vals)
  call params%set_requires_grad(.true.)
  params%is_temporary = .false.

  ! Loss function: sum of squares
  loss => sum(params**2, dim=1)

  ! One backward pass computes all 1000 gradients!
  call loss%grad_reverse()

  write(*,*) 'Loss =', loss%val(1, 1)
  write(*,*) 'First 5 gradients:', params%grad%val(1:5, 1)
  ! Gradient of x^2 is 2x, so we expect [2/1000, 4/1000, ...]

  ! Cleanup
  call loss%nullify_graph()
  call loss%deallocate()
  deallocate(loss)

end program high_dimensional
