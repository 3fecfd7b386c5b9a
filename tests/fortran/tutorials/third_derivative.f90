program third_derivative
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f, df, d2f, d3f

  ! f(x) = x^5
  ! f'(x) = 5x^4
  ! f''(x) = 20x^3
  ! f'''(x) = 60x^2

  call x%allocate([1, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  f => x**5
  df => f%grad_forward(x)         ! First derivative
  d2f => df%grad_forward(x)       ! Second derivative
  d3f => d2f%grad_forward(x)      ! Third derivative

  write(*,*) 'f(2) =', f%val(1, 1)       ! 32
  write(*,*) "f'(2) =", df%val(1, 1)     ! 80
  write(*,*) "f''(2) =", d2f%val(1, 1)   ! 160
  write(*,*) "f'''(2) =", d3f%val(1, 1)  ! 240

  ! Cleanup
  call f%nullify_graph()
  call df%nullify_graph()
  call d2f%nullify_graph()
  call d3f%nullify_graph()
  deallocate(f, df, d2f, d3f)

end program third_derivative
