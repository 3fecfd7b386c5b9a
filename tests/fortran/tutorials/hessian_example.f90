program hessian_example
  use diffstruc
  implicit none

  type(array_type) :: x, y
  type(array_type), pointer :: f
  type(array_type), pointer :: df_dx, df_dy
  type(array_type), pointer :: d2f_dx2, d2f_dxdy, d2f_dydx, d2f_dy2
  real :: hessian(2, 2)

  ! f(x, y) = x^2 + x*y + y^2

  call x%allocate([1, 1], source=1.0)
  call y%allocate([1, 1], source=1.0)
  call x%set_requires_grad(.true.)
  call y%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.

  f => x**2 + x*y + y**2

  ! First derivatives
  df_dx => f%grad_forward(x)   ! 2x + y
  df_dy => f%grad_forward(y)   ! x + 2y

  ! Second derivatives
  d2f_dx2 => df_dx%grad_forward(x)   ! ∂²f/∂x²
  d2f_dxdy => df_dx%grad_forward(y)  ! ∂²f/∂x∂y
  d2f_dydx => df_dy%grad_forward(x)  ! ∂²f/∂y∂x
  d2f_dy2 => df_dy%grad_forward(y)   ! ∂²f/∂y²

  ! Build Hessian matrix
  hessian(1, 1) = d2f_dx2%val(1, 1)   ! 2
  hessian(1, 2) = d2f_dxdy%val(1, 1)  ! 1
  hessian(2, 1) = d2f_dydx%val(1, 1)  ! 1
  hessian(2, 2) = d2f_dy2%val(1, 1)   ! 2

  write(*,*) 'Hessian matrix:'
  write(*,*) hessian(1, :)
  write(*,*) hessian(2, :)
  ! Output:
  !  2.0  1.0
  !  1.0  2.0

  ! Cleanup
  call f%nullify_graph()
  call df_dx%nullify_graph()
  call df_dy%nullify_graph()
  call d2f_dx2%nullify_graph()
  call d2f_dxdy%nullify_graph()
  call d2f_dydx%nullify_graph()
  call d2f_dy2%nullify_graph()
  deallocate(f, df_dx, df_dy, d2f_dx2, d2f_dxdy, d2f_dydx, d2f_dy2)

end program hessian_example
