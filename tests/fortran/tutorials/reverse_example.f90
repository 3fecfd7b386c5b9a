program reverse_example
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f

  ! Initialise
  call x%allocate([1, 1, 1], source=3.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! f(x) = x^3 + 2*x^2
  f => x**3 + 2.0*x**2

  ! Compute gradient using reverse mode
  call f%grad_reverse()  ! diffstruc-rs: changed from grad_reverse(record_graph=.true.), which does not compile

  write(*,*) 'f(3) =', f%val(1, 1)          ! 27 + 18 = 45
  write(*,*) 'df/dx =', x%grad%val(1, 1)    ! 3*9 + 4*3 = 39

  ! Cleanup
  call f%nullify_graph()
  deallocate(f)

end program reverse_example
