program reverse_multiple
  use diffstruc
  implicit none

  type(array_type) :: x, y, z
  type(array_type), pointer :: f

  ! Initialise three variables
  call x%allocate([1, 1, 1], source=2.0)
  call y%allocate([1, 1, 1], source=3.0)
  call z%allocate([1, 1, 1], source=4.0)
  call x%set_requires_grad(.true.)
  call y%set_requires_grad(.true.)
  call z%set_requires_grad(.true.)
  x%is_temporary = .false.
  y%is_temporary = .false.
  z%is_temporary = .false.

  ! f(x,y,z) = x*y + y*z + x*z
  f => x*y + y*z + x*z

  ! One backward pass computes all gradients!
  call f%grad_reverse()  ! diffstruc-rs: changed from grad_reverse(record_graph=.true.), which does not compile

  write(*,*) 'f =', f%val(1, 1)             ! 6 + 12 + 8 = 26
  write(*,*) '∂f/∂x =', x%grad%val(1, 1)    ! y + z = 7
  write(*,*) '∂f/∂y =', y%grad%val(1, 1)    ! x + z = 6
  write(*,*) '∂f/∂z =', z%grad%val(1, 1)    ! y + x = 5

  ! Cleanup
  call f%nullify_graph()
  deallocate(f)

end program reverse_multiple
