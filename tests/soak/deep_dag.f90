!> W6 from Fortran: y(k+1) = y(k)*y(k)*0.5 + y(k), D levels, each level using the previous one
!> three times. Reverse mode from sum(y(D)) and forward mode, on the default stack, checked
!> against the closed form dy(k+1)/dy(k) = y(k) + 1; releasing the graph must not recurse.
!>
!>   deep_dag [depth]      default 100000
program deep_dag
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: y, s, ds
  character(len=32) :: arg
  integer :: depth, k, live
  real(8) :: yv, dydx

  depth = 100000
  if (command_argument_count() >= 1) then
     call get_command_argument(1, arg)
     read(arg, *) depth
  end if
  live = diffstruc_live_arrays()
  call x%allocate([4, 1], source=1.0e-6)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.

  y => x * 1.0
  yv = 1.0d-6
  dydx = 1.0d0
  do k = 1, depth
     ! each intermediate result is consumed (owned) by the next level, diffstruc's rule
     y => y * y * 0.5 + y
     dydx = dydx * (yv + 1.0d0)
     yv = yv * yv * 0.5d0 + yv
  end do
  s => sum(y)
  call s%grad_reverse()
  if (abs(x%grad%val(1, 1) - dydx) > 1e-3 * dydx) then
     write(*, *) 'reverse', x%grad%val(1, 1), 'expected', dydx
     error stop 'deep_dag: wrong reverse gradient'
  end if
  ds => s%grad_forward(x)
  if (abs(ds%val(1, 1) - 4.0d0 * dydx) > 4e-3 * dydx) then
     write(*, *) 'forward', ds%val(1, 1), 'expected', 4.0d0 * dydx
     error stop 'deep_dag: wrong forward derivative'
  end if
  write(*, '(a, i0, a, es12.5)') 'deep_dag: depth ', depth, ', d sum(y) / d x(1) = ', &
       x%grad%val(1, 1)
  deallocate(ds, s)
  call x%deallocate()
  if (diffstruc_live_arrays() /= live) error stop 'deep_dag: arrays left alive'
end program deep_dag
