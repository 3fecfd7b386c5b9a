program mixed_partials
  use diffstruc
  implicit none

  type(array_type) :: x, y
  type(array_type), pointer :: f, df_dx, d2f_dxdy

  ! f(x, y) = x^2 * y^3
  ! ∂f/∂x = 2x * y^3
  ! ∂²f/∂x∂y = 6x * y^2

  call x%allocate([1, 1], source=2.0)
  call y%allocate([1, 1], source=3.0)
  call x%set_requires_grad(.true.)
  call y%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.

  f => x**2 * y**3
  df_dx => f%grad_forward(x)          ! ∂f/∂x
  d2f_dxdy => df_dx%grad_forward(y)   ! ∂²f/∂x∂y

  write(*,*) 'f(2,3) =', f%val(1, 1)            ! 4 * 27 = 108
  write(*,*) '∂f/∂x =', df_dx%val(1, 1)         ! 2*2 * 27 = 108
  write(*,*) '∂²f/∂x∂y =', d2f_dxdy%val(1, 1)   ! 6*2 * 9 = 108

  ! Cleanup
  call f%nullify_graph()
  call df_dx%nullify_graph()
  call d2f_dxdy%nullify_graph()
  deallocate(f, df_dx, d2f_dxdy)

end program mixed_partials
