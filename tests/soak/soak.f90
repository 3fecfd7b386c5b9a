!> Soak test: many iterations of diffstruc's tutorial loop (build, forward mode to second order,
!> reverse mode, read the gradient, release), reporting resident memory after a warm-up and at
!> the end. Memory must stay flat (within 1 MiB) and no array may be left alive.
!>
!>   soak [iterations [no-rss]]   default 100000; `no-rss` skips the memory check (under
!>                                valgrind, whose own allocator decides the resident size)
program soak
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f, df, d2, g
  character(len=32) :: arg
  integer :: n, i, warm, live
  logical :: check_rss
  integer(8) :: rss_warm, rss_end
  real(real32) :: expect(3), grad_sum

  n = 100000
  if (command_argument_count() >= 1) then
     call get_command_argument(1, arg)
     read(arg, *) n
  end if
  check_rss = .true.
  if (command_argument_count() >= 2) then
     call get_command_argument(2, arg)
     check_rss = arg /= 'no-rss'
  end if
  warm = max(1, min(1000, n / 10))

  live = diffstruc_live_arrays()
  call x%allocate([3, 1], source=2.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  x%val(:, 1) = [1.0, 2.0, 3.0]
  expect = 3.0 * x%val(:, 1)**2 + 4.0 * x%val(:, 1) + 1.0
  grad_sum = 0.0

  do i = 1, n
     if (i == warm) rss_warm = resident_bytes()
     ! the tutorial's polynomial, a data-movement step, and a reduction
     f => x**3 + 2.0 * x**2 + x - 5.0
     f%is_temporary = .false.   ! kept and reused below (diffstruc's rule)
     df => f%grad_forward(x)
     d2 => df%grad_forward(x)
     g => sum(concat(f, pack(f, [2, 3], dim=1)))
     call g%grad_reverse()
     grad_sum = grad_sum + x%grad%val(1, 1)
     if (i == 1) then
        if (any(abs(df%val(:, 1) - expect) > 1e-4)) error stop 'soak: wrong forward derivative'
        if (any(abs(d2%val(:, 1) - (6.0 * x%val(:, 1) + 4.0)) > 1e-4)) &
             error stop 'soak: wrong second derivative'
        if (abs(x%grad%val(1, 1) - expect(1)) > 1e-4) error stop 'soak: wrong gradient'
     end if
     call x%zero_grad()
     call f%nullify_graph()
     call df%nullify_graph()
     deallocate(g, d2, df, f)
  end do
  rss_end = resident_bytes()

  call x%deallocate()
  write(*, '(a, i0, a)') 'soak: ', n, ' iterations'
  write(*, '(a, f10.3, a)') 'soak: resident memory after warm-up ', rss_warm / 1048576.0, ' MiB'
  write(*, '(a, f10.3, a)') 'soak: resident memory at the end     ', rss_end / 1048576.0, ' MiB'
  write(*, '(a, f10.3, a)') 'soak: growth                         ', &
       (rss_end - rss_warm) / 1048576.0, ' MiB'
  if (abs(grad_sum / n - expect(1)) > 1e-3) error stop 'soak: gradients changed over time'
  if (diffstruc_live_arrays() /= live) error stop 'soak: arrays left alive'
  if (check_rss .and. rss_end - rss_warm > 1048576_8) error stop 'soak: resident memory grew by more than 1 MiB'

contains

  !> Resident set size of this process (Linux /proc/self/statm), in bytes.
  integer(8) function resident_bytes()
    integer :: unit, ios
    integer(8) :: pages_total, pages_resident
    resident_bytes = 0
    open(newunit=unit, file='/proc/self/statm', action='read', iostat=ios)
    if (ios /= 0) return
    read(unit, *, iostat=ios) pages_total, pages_resident
    close(unit)
    if (ios == 0) resident_bytes = pages_resident * 4096_8
  end function resident_bytes
end program soak
