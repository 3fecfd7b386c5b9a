!> An fpm project depending on diffstruc (this tree) and coreutils, written for diffstruc 1.1.1:
!> coreutils' real32 next to everything diffstruc exports, first and second derivatives.
program fpm_consumer
  use coreutils, only: real32
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f, df_dx, d2f_dx2

  call x%allocate([1, 1], source=3.0_real32)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => x ** 3
  df_dx => f%grad_forward(x)
  d2f_dx2 => df_dx%grad_forward(x)
  write(*, '(a, 3f10.4)') 'x**3, 3x**2, 6x at x = 3:', f%val(1, 1), df_dx%val(1, 1), &
       d2f_dx2%val(1, 1)
  if (abs(f%val(1, 1) - 27.0_real32) > 1.0e-4_real32) error stop 1
  if (abs(df_dx%val(1, 1) - 27.0_real32) > 1.0e-4_real32) error stop 2
  if (abs(d2f_dx2%val(1, 1) - 18.0_real32) > 1.0e-4_real32) error stop 3
  call f%nullify_graph()
  call df_dx%nullify_graph()
  call d2f_dx2%nullify_graph()
  deallocate(f, df_dx, d2f_dx2)
  write(*, '(a)') 'fpm consumer: ok'
end program fpm_consumer
