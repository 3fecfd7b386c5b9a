!> A diffstruc 1.1.1 program: coreutils' real32 next to everything of diffstruc (which exports a
!> real32 too). Legal only when both are the same entity, i.e. diffstruc uses coreutils' real32.
program consumer_coreutils
  use coreutils, only: real32
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f, df_dx
  real(real32) :: expected
  expected = 6.0_real32
  call x%allocate([1, 1], source=3.0_real32)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => x ** 2
  df_dx => f%grad_forward(x)
  write(*,*) 'df/dx =', df_dx%val(1, 1)
  if (abs(df_dx%val(1, 1) - expected) > 1.0e-6_real32) error stop 1
  call f%nullify_graph()
  call df_dx%nullify_graph()
  deallocate(f, df_dx)
end program consumer_coreutils
