!> Data-parallel training with MPI (mpi_f08) and the diffstruc module.
!>
!> A 1-hidden-layer tanh regression y = W2 tanh(W1 x + b1) + b2 (2 inputs, 6 hidden units,
!> 1 output) is fitted to 64 samples by plain gradient descent (SGD on the full batch) for 20
!> steps. The data and the initial parameters are given by formulas: no random numbers (the
!> same model, data and steps as train_mpi.c).
!>
!> Each rank takes a contiguous shard of the batch (shards differ by at most one sample when
!> the batch does not divide evenly), builds the graph of its part of the loss and runs reverse
!> mode. The loss is the sum of squared errors over the shard divided by the *total* batch
!> size, so the shards' gradients add up to the full batch's: MPI_Allreduce(MPI_IN_PLACE, ...)
!> sums them directly in the library's gradient buffers (`p%grad%val`, zero copy). Every rank
!> then applies the same update to its parameters in place. Run with one rank, the program is
!> the single-process reference.
!>
!>   mpirun -np 2 ./f_train_mpi [params.txt]
!>
!> Rank 0 prints the loss and the final parameters and, given a path, writes the parameters
!> there, one value per line (W1, b1, W2, b2, each column-major).
program train_mpi
  use, intrinsic :: iso_fortran_env, only: real64
  use mpi_f08
  use diffstruc
  implicit none

  integer, parameter :: n_total = 64, n_in = 2, n_hidden = 6, n_steps = 20, n_params = 4
  real(real32), parameter :: learning_rate = 0.2_real32
  character(len=2), parameter :: param_names(n_params) = ['W1', 'b1', 'W2', 'b2']

  type(array_type), target :: x, t
  type(array_type), target :: w1, b1, w2, b2
  type(array_type), pointer :: loss
  integer :: rank, nranks, n, first, base, extra, i, step, unit, length, io_status
  real(real32) :: total, final_loss
  logical :: leaked, to_file
  character(len=:), allocatable :: path

  call MPI_Init()
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks)
  if (nranks > n_total) then
     if (rank == 0) write(*, '(a,i0,a)') 'train_mpi: at most ', n_total, &
          ' ranks (one sample each at least)'
     call MPI_Abort(MPI_COMM_WORLD, 1)
  end if

  ! This rank's shard: samples first .. first+n-1 (0-based); the first mod(n_total, nranks)
  ! ranks take one more than the others.
  base = n_total / nranks
  extra = mod(n_total, nranks)
  n = base + merge(1, 0, rank < extra)
  first = rank * base + min(rank, extra)

  ! data: no gradient
  call x%allocate([n_in, n])
  call t%allocate([1, n])
  do i = 1, n
     call sample(first + i - 1, x%val(:, i), t%val(1, i))
  end do
  x%is_temporary = .false.
  t%is_temporary = .false.

  call new_param(w1, [n_hidden, n_in], 0.3_real64)
  call new_param(b1, [n_hidden], 1.1_real64)
  call new_param(w2, [1, n_hidden], 2.3_real64)
  call new_param(b2, [1], 0.0_real64)

  if (rank == 0) write(*, '(a,i0,a,i0,a,i0,a,g0.3)') 'train_mpi (Fortran): ', n_total, &
       ' samples on ', nranks, ' rank(s), ', n_steps, ' steps of SGD, learning rate ', &
       learning_rate
  do step = 1, n_steps
     call w1%zero_grad()
     call b1%zero_grad()
     call w2%zero_grad()
     call b2%zero_grad()
     loss => shard_loss()
     call loss%grad_reverse()
     total = global_loss(loss)
     ! the graph is no longer needed; the gradients stay with the parameters
     call loss%nullify_graph()
     deallocate(loss)

     call update(w1)
     call update(b1)
     call update(w2)
     call update(b2)
     if (rank == 0 .and. (step == 1 .or. mod(step, 5) == 0)) &
          write(*, '(a,i3,a,es13.6)') 'step ', step, '  loss ', total
  end do

  ! the loss of the final parameters (forward only)
  loss => shard_loss()
  final_loss = global_loss(loss)
  call loss%nullify_graph()
  deallocate(loss)

  if (rank == 0) then
     write(*, '(a,es16.8e3)') 'final loss ', final_loss
     unit = 0
     to_file = command_argument_count() >= 1
     if (to_file) then
        call get_command_argument(1, length=length)
        allocate(character(len=length) :: path)
        call get_command_argument(1, path, status=io_status)
        if (io_status /= 0) call MPI_Abort(MPI_COMM_WORLD, 1)
        open(newunit=unit, file=path, status='replace', action='write', form='formatted', &
             iostat=io_status)
        if (io_status /= 0) then
           write(*, '(2a)') 'train_mpi: cannot write ', path
           call MPI_Abort(MPI_COMM_WORLD, 1)
        end if
     end if
     call report(param_names(1), w1, to_file, unit)
     call report(param_names(2), b1, to_file, unit)
     call report(param_names(3), w2, to_file, unit)
     call report(param_names(4), b2, to_file, unit)
     if (to_file) then
        close(unit)
        deallocate(path)
     end if
  end if

  ! release everything: nothing may be left alive on any rank
  call x%deallocate()
  call t%deallocate()
  call w1%deallocate()
  call b1%deallocate()
  call w2%deallocate()
  call b2%deallocate()
  leaked = diffstruc_live_arrays() /= 0
  if (leaked) write(*, '(a,i0,a,i0,a)') 'rank ', rank, ': ', diffstruc_live_arrays(), &
       ' arrays still alive'
  call MPI_Allreduce(MPI_IN_PLACE, leaked, 1, MPI_LOGICAL, MPI_LOR, MPI_COMM_WORLD)
  call MPI_Finalize()
  if (leaked) error stop 1

contains

  !> Sample i of the data set (0-based, global numbering): inputs on a grid, a smooth target.
  subroutine sample(i, xi, ti)
    integer, intent(in) :: i
    real(real32), intent(out) :: xi(n_in)
    real(real32), intent(out) :: ti
    real(real64) :: u, v
    u = -1.0_real64 + 2.0_real64 * i / (n_total - 1)
    v = cos(3.0_real64 * u + 0.5_real64)
    xi = real([u, v], real32)
    ti = real(sin(2.0_real64 * u) + 0.5_real64 * u * v, real32)
  end subroutine sample

  !> A parameter of per-sample shape `extents`: one sample (batch 1) shared by the whole batch
  !> (not sample-dependent), so reverse mode sums its gradient over the samples.
  subroutine new_param(p, extents, phase)
    type(array_type), intent(inout) :: p
    integer, intent(in) :: extents(:)
    real(real64), intent(in) :: phase
    integer :: k
    call p%allocate([extents, 1])
    do k = 1, size(p%val, 1)
       p%val(k, 1) = real(0.5_real64 * sin(1.7_real64 * (k - 1) + phase), real32)
    end do
    call p%set_requires_grad(.true.)
    p%is_sample_dependent = .false.
    p%is_temporary = .false.
  end subroutine new_param

  !> This shard's loss, sum over its samples of (y - t)**2, divided by n_total. Each operation's
  !> result is owned by the operation that consumes it: releasing the loss releases them all.
  function shard_loss() result(l)
    type(array_type), pointer :: l
    l => sum((matmul(w2, tanh(matmul(w1, x) + b1)) + b2 - t)**2) * &
         (1.0_real32 / real(n_total, real32))
  end function shard_loss

  !> The full-batch loss: every shard's part, summed over the ranks.
  function global_loss(l) result(summed)
    type(array_type), intent(in) :: l
    real(real32) :: summed
    summed = l%val(1, 1)
    call MPI_Allreduce(MPI_IN_PLACE, summed, 1, MPI_REAL4, MPI_SUM, MPI_COMM_WORLD)
  end function global_loss

  !> Sums the shards' gradients of p in the library's own gradient buffer (no copy), then
  !> takes the same SGD step on every rank.
  subroutine update(p)
    type(array_type), intent(inout) :: p
    call MPI_Allreduce(MPI_IN_PLACE, p%grad%val, size(p%grad%val), MPI_REAL4, MPI_SUM, &
         MPI_COMM_WORLD)
    p%val = p%val - learning_rate * p%grad%val
  end subroutine update

  !> Prints a parameter's values and, if to_file, writes them to unit out one per line.
  subroutine report(name, p, to_file, out)
    character(len=*), intent(in) :: name
    type(array_type), intent(in) :: p
    logical, intent(in) :: to_file
    integer, intent(in) :: out
    integer :: k
    write(*, '(a,":",*(1x,es16.8e3))') name, p%val(:, 1)
    if (to_file) then
       do k = 1, size(p%val, 1)
          write(out, '(es16.8e3)') p%val(k, 1)
       end do
    end if
  end subroutine report

end program train_mpi
