program directional_derivative
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f, dir_deriv
  real :: x_vals(2), direction(2)

  ! Point: x = [1, 2]
  x_vals = [1.0, 2.0]
  call x%allocate([2, 1])
  call x%set(x_vals)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! Direction: v = [1, 0] (along x1 axis)
  direction = [1.0, 0.0]
  call x%set_direction(direction)

  ! f(x1, x2) = x1^2 + x2^2
  f => sum(x**2, dim=1)

  ! Directional derivative
  dir_deriv => f%grad_forward(x)

  ! ∇f = [2*x1, 2*x2] = [2, 4]
  ! D_v f = ∇f · v = [2, 4] · [1, 0] = 2
  write(*,*) 'Directional derivative:', dir_deriv%val(1, 1)

  ! Cleanup
  call f%nullify_graph()
  call dir_deriv%nullify_graph()
  deallocate(f, dir_deriv)

end program directional_derivative
