!> A diffstruc program (unchanged source) running on diffstruc-rs: first and second derivatives
!> of f(x) = x**3 + 2x**2 + x in forward mode, the gradient in reverse mode, and a short
!> gradient-descent loop.
program tutorial
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f, df, d2f, loss
  integer :: step

  call x%allocate([3, 1])
  call x%set([1.0, 2.0, 3.0])
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  f => x**3 + 2.0 * x**2 + x
  df => f%grad_forward(x)          ! 3x**2 + 4x + 1
  d2f => df%grad_forward(x)        ! 6x + 4
  write(*,*) 'x       =', x%val(:, 1)
  write(*,*) 'f(x)    =', f%val(:, 1)
  write(*,*) "f'(x)   =", df%val(:, 1)
  write(*,*) "f''(x)  =", d2f%val(:, 1)

  call f%grad_reverse()
  write(*,*) 'reverse =', x%grad%val(:, 1)
  ! a picture of f's graph (an extension): dot -Tpng tutorial_graph.dot -o tutorial_graph.png
  call diffstruc_write_dot(f, 'tutorial_graph.dot')
  call f%nullify_graph()
  call df%nullify_graph()
  call d2f%nullify_graph()
  deallocate(f, df, d2f)

  ! minimise sum((x - 5)**2) by gradient descent
  do step = 1, 100
     call x%zero_grad()
     loss => sum((x - 5.0)**2)
     call loss%grad_reverse()
     x%val = x%val - 0.1 * x%grad%val
     call loss%nullify_graph()
     deallocate(loss)
  end do
  write(*,*) 'argmin  =', x%val(:, 1)
end program tutorial
