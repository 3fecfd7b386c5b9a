program newtons_method
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f, df
  real :: x_val
  integer :: iter
  integer, parameter :: max_iter = 10
  real, parameter :: tol = 1.0e-6

  ! Find root of f(x) = x^2 - 2 (i.e., sqrt(2))
  x_val = 1.0  ! Initial guess

  do iter = 1, max_iter
    ! Setup
    call x%allocate([1, 1], source=x_val)
    call x%set_requires_grad(.true.)
    x%is_temporary = .false.

    ! Function and derivative
    f => x**2 - 2.0
    df => f%grad_forward(x)

    ! Newton update: x_new = x - f(x)/f'(x)
    x_val = x_val - f%val(1, 1) / df%val(1, 1)

    write(*,'(A,I2,A,F12.8)') 'Iteration', iter, ': x =', x_val

    ! Cleanup for next iteration
    call f%nullify_graph()
    call df%nullify_graph()
    deallocate(f, df)
    call x%deallocate()

    if (abs(x_val**2 - 2.0) < tol) then
      write(*,*) 'Converged! sqrt(2) ≈', x_val
      exit
    end if
  end do

end program newtons_method
