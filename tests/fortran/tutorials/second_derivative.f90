program second_derivative
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f, df_dx, d2f_dx2

  ! f(x) = x^4
  ! f'(x) = 4x^3
  ! f''(x) = 12x^2

  call x%allocate([1, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! First derivative
  f => x**4
  df_dx => f%grad_forward(x)

  ! Second derivative: differentiate df_dx with respect to x
  d2f_dx2 => df_dx%grad_forward(x)

  write(*,*) 'f(2) = 2^4 =', f%val(1, 1)              ! 16
  write(*,*) "f'(2) = 4*8 =", df_dx%val(1, 1)         ! 32
  write(*,*) "f''(2) = 12*4 =", d2f_dx2%val(1, 1)     ! 48

  ! Cleanup
  call f%nullify_graph()
  call df_dx%nullify_graph()
  call d2f_dx2%nullify_graph()
  deallocate(f, df_dx, d2f_dx2)

end program second_derivative
