program exp_log_derivatives
  use diffstruc
  implicit none

  type(array_type) :: x
  type(array_type), pointer :: f_exp, f_log, df_exp, df_log

  call x%allocate([1, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  ! f(x) = exp(x), f'(x) = exp(x)
  f_exp => exp(x)
  df_exp => f_exp%grad_forward(x)

  write(*,*) 'exp(2) =', f_exp%val(1, 1)        ! ≈ 7.389
  write(*,*) "d/dx exp(x) =", df_exp%val(1, 1)  ! ≈ 7.389

  ! f(x) = log(x), f'(x) = 1/x
  f_log => log(x)
  df_log => f_log%grad_forward(x)

  write(*,*) 'log(2) =', f_log%val(1, 1)        ! ≈ 0.693
  write(*,*) "d/dx log(x) =", df_log%val(1, 1)  ! = 0.5

  ! Cleanup
  call f_exp%nullify_graph()
  call f_log%nullify_graph()
  call df_exp%nullify_graph()
  call df_log%nullify_graph()
  deallocate(f_exp, f_log, df_exp, df_log)

end program exp_log_derivatives
