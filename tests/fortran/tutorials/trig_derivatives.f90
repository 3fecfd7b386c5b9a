program trig_derivatives
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f1, f2, df1, df2
  real, parameter :: pi = 3.14159265359

  call x%allocate([1, 1], source=pi/4.0)  ! 45 degrees
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! f1(x) = sin(x), f1'(x) = cos(x)
  f1 => sin(x)
  df1 => f1%grad_forward(x)

  write(*,*) 'sin(π/4) =', f1%val(1, 1)      ! ≈ 0.707
  write(*,*) 'd/dx sin =', df1%val(1, 1)     ! ≈ 0.707 (cos(π/4))

  ! f2(x) = cos(x), f2'(x) = -sin(x)
  f2 => cos(x)
  df2 => f2%grad_forward(x)

  write(*,*) 'cos(π/4) =', f2%val(1, 1)      ! ≈ 0.707
  write(*,*) 'd/dx cos =', df2%val(1, 1)     ! ≈ -0.707

  ! Cleanup
  call f1%nullify_graph()
  call f2%nullify_graph()
  call df1%nullify_graph()
  call df2%nullify_graph()
  deallocate(f1, f2, df1, df2)

end program trig_derivatives
