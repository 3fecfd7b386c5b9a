program gradient_vector
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f, grad_f
  real :: x_values(3)

  ! f(x1, x2, x3) = x1^2 + x2^2 + x3^2
  x_values = [1.0, 2.0, 3.0]
  call x%allocate([3, 1])
  call x%set(x_values)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! Sum of squares
  f => sum(x**2, dim=2)

  ! Gradient: [2*x1, 2*x2, 2*x3] = [2, 4, 6]
  grad_f => f%grad_forward(x)

  write(*,*) 'f =', f%val(1, 1)          ! 1 + 4 + 9 = 14
  write(*,*) '∇f =', grad_f%val(:, 1)    ! [2, 4, 6]

  ! Cleanup
  call f%nullify_graph()
  call grad_f%nullify_graph()
  deallocate(f, grad_f)

end program gradient_vector
