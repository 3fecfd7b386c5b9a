program first_derivative
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f, df_dx

  ! Step 1: Create and initialise the input
  call x%allocate([1, 1], source=3.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! Step 2: Define the function f(x) = x^2
  f => x ** 2

  ! Step 3: Compute the derivative df/dx
  df_dx => f%grad_forward(x)

  ! Step 4: Display results
  write(*,*) 'x =', x%val(1, 1)
  write(*,*) 'f(x) = x^2 =', f%val(1, 1)
  write(*,*) 'df/dx = 2x =', df_dx%val(1, 1)
  ! Expected: df/dx = 2*3 = 6

  ! Step 5: Clean up
  call f%nullify_graph()
  call df_dx%nullify_graph()
  deallocate(f, df_dx)

end program first_derivative
