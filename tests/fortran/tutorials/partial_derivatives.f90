program partial_derivatives
  use diffstruc
  implicit none

  type(array_type) :: x, y
  type(array_type), pointer :: f, df_dx, df_dy

  ! Initialize two variables
  call x%allocate([1, 1], source=3.0)
  call y%allocate([1, 1], source=4.0)
  call x%set_requires_grad(.true.)
  call y%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.

  ! f(x, y) = x^2 + x*y + y^2
  f => x**2 + x*y + y**2

  ! Compute partial derivatives
  df_dx => f%grad_forward(x)  ! ∂f/∂x = 2x + y = 6 + 4 = 10
  df_dy => f%grad_forward(y)  ! ∂f/∂y = x + 2y = 3 + 8 = 11

  write(*,*) 'f(3, 4) =', f%val(1, 1)        ! 9 + 12 + 16 = 37
  write(*,*) '∂f/∂x =', df_dx%val(1, 1)      ! 10
  write(*,*) '∂f/∂y =', df_dy%val(1, 1)      ! 11

  ! Cleanup
  call f%nullify_graph()
  call df_dx%nullify_graph()
  call df_dy%nullify_graph()
  deallocate(f, df_dx, df_dy)

end program partial_derivatives
