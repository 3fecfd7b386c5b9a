program batch_derivative
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f, df_dx
  real :: values(4)
  integer :: i

  ! Initialise with 4 different x values: [1, 2, 3, 4]
  values = [1.0, 2.0, 3.0, 4.0]
  call x%allocate([4, 1])
  call x%set(values)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! Compute f(x) = x^2 for all values at once
  f => x ** 2

  ! Compute derivatives for all values
  df_dx => f%grad_forward(x)

  ! Display results
  write(*,*) 'x values:', x%val(:, 1)
  write(*,*) 'f(x) = x^2:', f%val(:, 1)
  write(*,*) 'df/dx = 2x:', df_dx%val(:, 1)

  ! Clean up
  call f%nullify_graph()
  call df_dx%nullify_graph()
  deallocate(f, df_dx)

end program batch_derivative
