program forward_example
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f, df_dx

  ! Initialize
  call x%allocate([1, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! f(x) = x^3 + 2*x^2 + x
  f => x**3 + 2.0*x**2 + x

  ! Compute df/dx using forward mode
  df_dx => f%grad_forward(x)

  write(*,*) 'f(2) =', f%val(1, 1)          ! 8 + 8 + 2 = 18
  write(*,*) 'df/dx(2) =', df_dx%val(1, 1)  ! 3*4 + 4*2 + 1 = 21

  ! Cleanup
  call f%nullify_graph()
  call df_dx%nullify_graph()
  deallocate(f, df_dx)

end program forward_example
