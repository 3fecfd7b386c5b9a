!> Consumer of the installed package, written for diffstruc: d/dx (x**2) at x = 3 must be 6.
program consumer
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f, df_dx
  call x%allocate([1, 1], source=3.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => x ** 2
  df_dx => f%grad_forward(x)
  write(*,*) 'df/dx =', df_dx%val(1, 1)
  if (abs(df_dx%val(1, 1) - 6.0) > 1.0e-6) error stop 1
  call f%nullify_graph()
  call df_dx%nullify_graph()
  deallocate(f, df_dx)
end program consumer
