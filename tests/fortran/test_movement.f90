!> Data movement and selection from Fortran: the padded sum, spread / unspread, concat,
!> slice_left / slice_right / ltrim / rtrim, .index. / reverse_index, pack (mask and indices),
!> unpack (mask and indices), reshape and merge (array, scalar and real-matrix forms).
!>
!> Every case (one form of one generic, `op(code)`) is checked twice:
!>  * on integer-valued operands, against hand-worked results: the values, the per-sample shape,
!>    the batch size and the operation name of `op(x)`; the gradient of g = sum(op(x)**2) by
!>    reverse mode (closed form 2 L^T L x, worked out by hand); its derivative by forward mode
!>    (sum(grad * V), V the direction in every sample); and, for one or more cases of every
!>    family, the second derivative H V = 2 L^T L V by reverse over forward and u^T H v by
!>    forward over forward;
!>  * on other operand values, with the weighted composite g = sum(W * op(x)**2) (W differs
!>    from element to element, so that a wrong position shows), against central differences of
!>    g computed here: the reverse gradient (x and y), the forward derivative (x and y), reverse
!>    over forward (mixed second differences, element by element) and forward over forward;
!>    and reverse mode started from op(x) itself with the custom seed W written into its
!>    gradient (the adjoint applied to W), against central differences of sum(W * op(x)).
!> g is quadratic, so the central differences are exact up to rounding. The cases include
!> dim = 1 and dim = 2 forms, batches changed by the operation, operands shared by the batch
!> (one sample, not sample-dependent), an array concatenated with itself, and a chain of
!> movement operations; memory returns to its starting level after every case.
program test_movement
  use diffstruc
  use test_utils
  implicit none

  integer, parameter :: NCASES = 42
  real, parameter :: TOL = 1.0e-5      ! hand-worked values (small integers: exact)
  real, parameter :: TOL_FD = 1.0e-3   ! vs central differences of a quadratic
  real(real32), parameter :: HS = 0.25 ! finite-difference step
  integer, parameter :: SQUARE = 1, WSQUARE = 2, WLINEAR = 3  ! what build_g differentiates
  character(len=32), parameter :: CASE_NAMES(NCASES) = [character(len=32) :: &
       'spread(x,1,2,4)', 'spread(x,2,2,3)', 'unspread(x,2,1,3)', 'unspread(x,1,2,2)', &
       'sum(x,1,3,3)', 'sum(x,2,2,4)', 'concat(x,y)', 'concat(x,y,2)', 'concat(x,x,dim=2)', &
       'slice_left(x,2)', 'slice_left(x,2,2)', 'slice_right(x,3)', 'slice_right(x,1,dim=2)', &
       'ltrim(x,1)', 'ltrim(x,2,2)', 'rtrim(x,3)', 'rtrim(x,1,2)', 'x .index. [3,1,3,2]', &
       'reverse_index(x,[2,2],T,3)', 'reverse_index(x,[4,1,4],F,4)', &
       'pack(x,1,mask=[T,F,T])', 'pack(x,2,[T,F,T])', 'pack(x,1)', 'pack(x,[3,3,1],1)', &
       'pack(x,[3,1],2)', 'unpack(x,[5,2],1,[5,1])', 'unpack(x,[4,2])', &
       'unpack(x,[3,4],2,[4,1])', 'unpack(x,[3,1],1,4)', 'unpack(x,[2,3],2,3)', &
       'unpack(x,[3],2,3)', 'reshape(x,[2,3])', 'merge(x,y,m)', 'merge(x,0.5,m)', &
       'merge(0.5,x,m)', 'merge(x,r2,m)', 'merge(x,y1 shared,m)', 'spread(x shared,2,1,3)', &
       'concat(x,y shared)', 'slice_left(concat(x .index. [2,1],x,2),2)', &
       'merge(y1 shared,x,m)', 'merge(x,r2(:,1:1),m)']
  !> merge's mask, (E, S) = (3, 2), and its real-matrix fsource
  logical, parameter :: MM(3, 2) = reshape([.true., .false., .false., .true., .true., .false.], &
       [3, 2])
  real(real32), parameter :: R2(3, 2) = reshape([7.0, 8.0, 9.0, -1.0, -2.0, -3.0], [3, 2])

  type(array_type) :: x, y, w
  logical :: uses_y
  integer :: live0, live1, code

  live0 = diffstruc_live_arrays()
  ! the shared vector of the reshape case: matmul(reshape(x, [2, 3]), w)
  call new_variable(w, [1.0, -1.0, 2.0], .false., sample_dependent=.false.)
  live1 = diffstruc_live_arrays()
  do code = 1, NCASES
     call check_literal(code)
     call check(diffstruc_live_arrays() == live1, &
          trim(CASE_NAMES(code)) // ': memory returned (hand-worked checks)')
     call check_numeric(code)
     call check(diffstruc_live_arrays() == live1, &
          trim(CASE_NAMES(code)) // ': memory returned (finite-difference checks)')
  end do
  call w%deallocate()
  call check(diffstruc_live_arrays() == live0, 'live arrays back to start')
  call finish()

contains

  !> 1, 2, ..., n
  function iota(n) result(v)
    integer, intent(in) :: n
    real(real32) :: v(n)
    integer :: i
    v = [(real(i, real32), i = 1, n)]
  end function iota

  !> The forward direction (first n of 1, -1, 2, -2, 3, -3).
  function dir_v(n) result(v)
    integer, intent(in) :: n
    real(real32) :: v(n)
    real(real32), parameter :: ALL(6) = [1.0, -1.0, 2.0, -2.0, 3.0, -3.0]
    v = ALL(1:n)
  end function dir_v

  !> The second forward direction (first n of 0.5, 1, -1, 0.5, 2, 1).
  function dir_u(n) result(u)
    integer, intent(in) :: n
    real(real32) :: u(n)
    real(real32), parameter :: ALL(6) = [0.5, 1.0, -1.0, 0.5, 2.0, 1.0]
    u = ALL(1:n)
  end function dir_u

  !> A direction as seen by every sample of a variable: (E, S).
  function in_every_sample(d, batch) result(m)
    real(real32), intent(in) :: d(:)
    integer, intent(in) :: batch
    real(real32) :: m(size(d), batch)
    m = spread(d, 2, batch)
  end function in_every_sample

  !> Weights of the numeric composite: 1, 1.5, 2 or 2.5, varying with the position.
  function weights(n, batch) result(m)
    integer, intent(in) :: n, batch
    real(real32) :: m(n, batch)
    integer :: i, j
    do j = 1, batch
       do i = 1, n
          m(i, j) = 1.0 + 0.5 * real(mod(3 * i + 7 * j, 4), real32)
       end do
    end do
  end function weights

  logical function same_shape(a, b)
    integer, intent(in) :: a(:), b(:)
    same_shape = size(a) == size(b)
    if (same_shape) same_shape = all(a == b)
  end function same_shape

  !> The operands of a case: integer values (`scaled` false) or other values near zero.
  subroutine setup(code, scaled)
    integer, intent(in) :: code
    logical, intent(in) :: scaled
    real(real32), allocatable :: xv(:,:), yv(:,:)
    logical :: shared_x, shared_y
    shared_x = code == 38
    select case (code)
    case (10:17); xv = reshape(iota(12), [4, 3])
    case (18:20); xv = reshape(iota(6), [2, 3])
    case (21:25); xv = reshape(iota(9), [3, 3])
    case (32); xv = reshape(iota(12), [6, 2])
    case (38); xv = reshape(iota(3), [3, 1])
    case default; xv = reshape(iota(6), [3, 2])
    end select
    uses_y = .true.
    shared_y = .false.
    select case (code)
    case (7); yv = reshape([10.0, 11.0, 12.0, 13.0], [2, 2])
    case (8); yv = reshape([7.0, 8.0, 9.0], [3, 1])
    case (33); yv = reshape([10.0, 20.0, 30.0, 40.0, 50.0, 60.0], [3, 2])
    case (37); yv = reshape([10.0, 20.0, 30.0], [3, 1]); shared_y = .true.
    case (39); yv = reshape([10.0, 11.0], [2, 1]); shared_y = .true.
    case (41); yv = reshape([10.0, 20.0, 30.0], [3, 1]); shared_y = .true.
    case default; uses_y = .false.
    end select
    if (scaled) then
       xv = 0.1 * xv - 0.45
       if (uses_y) yv = 0.02 * yv - 0.5
    end if
    call new_variable(x, xv, .true., sample_dependent=.not. shared_x)
    if (uses_y) call new_variable(y, yv, .true., sample_dependent=.not. shared_y)
  end subroutine setup

  subroutine teardown()
    call x%deallocate()
    if (uses_y) call y%deallocate()
  end subroutine teardown

  !> The operation of case `code` on the current operands.
  function op(code) result(p)
    integer, intent(in) :: code
    type(array_type), pointer :: p
    select case (code)
    case (1); p => spread(x, 1, 2, 4)
    case (2); p => spread(x, 2, 2, 3)
    case (3); p => unspread(x, 2, 1, 3)
    case (4); p => unspread(x, 1, 2, 2)
    case (5); p => sum(x, 1, 3, 3)
    case (6); p => sum(x, 2, 2, 4)
    case (7); p => concat(x, y)
    case (8); p => concat(x, y, 2)
    case (9); p => concat(x, x, dim=2)
    case (10); p => slice_left(x, 2)
    case (11); p => slice_left(x, 2, 2)
    case (12); p => slice_right(x, 3)
    case (13); p => slice_right(x, 1, dim=2)
    case (14); p => ltrim(x, 1)
    case (15); p => ltrim(x, 2, 2)
    case (16); p => rtrim(x, 3)
    case (17); p => rtrim(x, 1, 2)
    case (18); p => x .index. [3, 1, 3, 2]
    case (19); p => reverse_index(x, [2, 2], .true., 3)
    case (20); p => reverse_index(x, [4, 1, 4], .false., 4)
    case (21); p => pack(x, 1, mask=[.true., .false., .true.])
    case (22); p => pack(x, 2, [.true., .false., .true.])
    case (23); p => pack(x, 1)
    case (24); p => pack(x, [3, 3, 1], 1)
    case (25); p => pack(x, [3, 1], 2)
    case (26); p => unpack(x, [5, 2], 1, [5, 1])
    case (27); p => unpack(x, [4, 2])
    case (28); p => unpack(x, [3, 4], 2, [4, 1])
    case (29); p => unpack(x, [3, 1], 1, 4)
    case (30); p => unpack(x, [2, 3], 2, 3)
    case (31); p => unpack(x, [3], 2, 3)
    case (32); p => reshape(x, [2, 3])
    case (33); p => merge(x, y, MM)
    case (34); p => merge(x, 0.5, MM)
    case (35); p => merge(0.5, x, MM)
    case (36); p => merge(x, R2, MM)
    case (37); p => merge(x, y, MM)
    case (38); p => spread(x, 2, 1, 3)
    case (39); p => concat(x, y)
    case (40); p => slice_left(concat(x .index. [2, 1], x, 2), 2)
    case (41); p => merge(y, x, MM)
    case (42); p => merge(x, R2(:, 1:1), MM)
    case default; error stop 'op: bad case'
    end select
  end function op

  !> What is squared: op(x), or for reshape matmul(reshape(x, [2, 3]), w) (the reshaped
  !> array used as a 2 x 3 matrix).
  function inner(code) result(p)
    integer, intent(in) :: code
    type(array_type), pointer :: p
    if (code == 32) then
       p => matmul(op(code), w)
    else
       p => op(code)
    end if
  end function inner

  !> The function differentiated: sum(inner**2) (SQUARE), sum(inner**2 * W) (WSQUARE), or
  !> the linear sum(inner * W) (WLINEAR), whose gradient is the adjoint applied to W.
  function build_g(code, kind) result(g)
    integer, intent(in) :: code, kind
    type(array_type), pointer :: g, p
    p => inner(code)
    select case (kind)
    case (SQUARE); g => sum(p**2)
    case (WSQUARE); g => sum(p**2 * weights(size(p%val, 1), size(p%val, 2)))
    case default; g => sum(p * weights(size(p%val, 1), size(p%val, 2)))
    end select
  end function build_g

  !> Hand-worked results of case `code` on the integer operands: per-sample shape, batch,
  !> values and operation name of op(x); gradients of sum(inner**2) with respect to x (and y);
  !> and for some cases H v (v = dir_v, in every sample).
  subroutine expected(code, shp, nb, vals, name, gx, gy, hv)
    integer, intent(in) :: code
    integer, allocatable, intent(out) :: shp(:)
    integer, intent(out) :: nb
    real(real32), allocatable, intent(out) :: vals(:), gx(:), gy(:), hv(:)
    character(len=*), intent(out) :: name
    select case (code)
    ! x = [1 2 3 | 4 5 6]
    case (1) ! four copies of element 2
       shp = [4]; nb = 2; name = 'spread'
       vals = [2.0, 2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0]
       gx = [0.0, 16.0, 0.0, 0.0, 40.0, 0.0]
       hv = [0.0, -8.0, 0.0, 0.0, -8.0, 0.0]
    case (2) ! three copies of sample 2
       shp = [3]; nb = 3; name = 'spread'
       vals = [4.0, 5.0, 6.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0]
       gx = [0.0, 0.0, 0.0, 24.0, 30.0, 36.0]
    case (3) ! element 2 of 3 holds the sum of each sample
       shp = [3]; nb = 2; name = 'unspread'
       vals = [0.0, 6.0, 0.0, 0.0, 15.0, 0.0]
       gx = [12.0, 12.0, 12.0, 30.0, 30.0, 30.0]
    case (4) ! sample 1 of 2 holds the sum over the batch
       shp = [3]; nb = 2; name = 'unspread'
       vals = [5.0, 7.0, 9.0, 0.0, 0.0, 0.0]
       gx = [10.0, 14.0, 18.0, 10.0, 14.0, 18.0]
       hv = [4.0, -4.0, 8.0, 4.0, -4.0, 8.0]
    case (5)
       shp = [3]; nb = 2; name = 'sum_and_pad_array'
       vals = [0.0, 0.0, 6.0, 0.0, 0.0, 15.0]
       gx = [12.0, 12.0, 12.0, 30.0, 30.0, 30.0]
    case (6)
       shp = [3]; nb = 4; name = 'sum_and_pad_array'
       vals = [0.0, 0.0, 0.0, 5.0, 7.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
       gx = [10.0, 14.0, 18.0, 10.0, 14.0, 18.0]
    case (7) ! y = [10 11 | 12 13]
       shp = [5]; nb = 2; name = 'concat'
       vals = [1.0, 2.0, 3.0, 10.0, 11.0, 4.0, 5.0, 6.0, 12.0, 13.0]
       gx = 2.0 * iota(6)
       gy = [20.0, 22.0, 24.0, 26.0]
       hv = [2.0, -2.0, 4.0, 2.0, -2.0, 4.0]
    case (8) ! y = [7 8 9], one sample
       shp = [3]; nb = 3; name = 'concat'
       vals = iota(9)
       gx = 2.0 * iota(6)
       gy = [14.0, 16.0, 18.0]
    case (9)
       shp = [3]; nb = 4; name = 'concat'
       vals = [iota(6), iota(6)]
       gx = 4.0 * iota(6)
    ! x = [1 2 3 4 | 5 6 7 8 | 9 10 11 12]
    case (10)
       shp = [2]; nb = 3; name = 'slice_left'
       vals = [1.0, 2.0, 5.0, 6.0, 9.0, 10.0]
       gx = [2.0, 4.0, 0.0, 0.0, 10.0, 12.0, 0.0, 0.0, 18.0, 20.0, 0.0, 0.0]
       hv = [2.0, -2.0, 0.0, 0.0, 2.0, -2.0, 0.0, 0.0, 2.0, -2.0, 0.0, 0.0]
    case (11, 17)
       shp = [4]; nb = 2; name = 'slice_left'
       vals = iota(8)
       gx = [2.0 * iota(8), 0.0, 0.0, 0.0, 0.0]
    case (12, 14)
       shp = [3]; nb = 3; name = 'slice_right'
       vals = [2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 10.0, 11.0, 12.0]
       gx = [0.0, 4.0, 6.0, 8.0, 0.0, 12.0, 14.0, 16.0, 0.0, 20.0, 22.0, 24.0]
       if (code == 14) hv = [0.0, -2.0, 4.0, -4.0, 0.0, -2.0, 4.0, -4.0, 0.0, -2.0, 4.0, -4.0]
    case (13, 15)
       shp = [4]; nb = 1; name = 'slice_right'
       vals = [9.0, 10.0, 11.0, 12.0]
       gx = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 18.0, 20.0, 22.0, 24.0]
    case (16)
       shp = [1]; nb = 3; name = 'slice_left'
       vals = [1.0, 5.0, 9.0]
       gx = [2.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 18.0, 0.0, 0.0, 0.0]
    ! x = [1 2 | 3 4 | 5 6]
    case (18)
       shp = [2]; nb = 4; name = 'index'
       vals = [5.0, 6.0, 1.0, 2.0, 5.0, 6.0, 3.0, 4.0]
       gx = [2.0, 4.0, 6.0, 8.0, 20.0, 24.0]
       hv = [2.0, -2.0, 2.0, -2.0, 4.0, -4.0]
    case (19) ! result samples 1 and 2 from sample 2
       shp = [2]; nb = 3; name = 'index'
       vals = [3.0, 4.0, 3.0, 4.0, 0.0, 0.0]
       gx = [0.0, 0.0, 12.0, 16.0, 0.0, 0.0]
    case (20) ! samples 1, 2, 3 to 4, 1, 4: the last write to 4 wins
       shp = [2]; nb = 4; name = 'index'
       vals = [3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 5.0, 6.0]
       gx = [0.0, 0.0, 6.0, 8.0, 10.0, 12.0]
       hv = [0.0, 0.0, 2.0, -2.0, 2.0, -2.0]
    ! x = [1 2 3 | 4 5 6 | 7 8 9]
    case (21)
       shp = [2]; nb = 3; name = 'pack_mask'
       vals = [1.0, 3.0, 4.0, 6.0, 7.0, 9.0]
       gx = [2.0, 0.0, 6.0, 8.0, 0.0, 12.0, 14.0, 0.0, 18.0]
       hv = [2.0, 0.0, 4.0, 2.0, 0.0, 4.0, 2.0, 0.0, 4.0]
    case (22)
       shp = [3]; nb = 2; name = 'pack_mask'
       vals = [1.0, 2.0, 3.0, 7.0, 8.0, 9.0]
       gx = [2.0, 4.0, 6.0, 0.0, 0.0, 0.0, 14.0, 16.0, 18.0]
    case (23)
       shp = [3]; nb = 3; name = 'pack_mask'
       vals = iota(9)
       gx = 2.0 * iota(9)
    case (24)
       shp = [3]; nb = 3; name = 'pack_indices'
       vals = [3.0, 3.0, 1.0, 6.0, 6.0, 4.0, 9.0, 9.0, 7.0]
       gx = [2.0, 0.0, 12.0, 8.0, 0.0, 24.0, 14.0, 0.0, 36.0]
       hv = [2.0, 0.0, 8.0, 2.0, 0.0, 8.0, 2.0, 0.0, 8.0]
    case (25)
       shp = [3]; nb = 2; name = 'pack_indices'
       vals = [7.0, 8.0, 9.0, 1.0, 2.0, 3.0]
       gx = [2.0, 4.0, 6.0, 0.0, 0.0, 0.0, 14.0, 16.0, 18.0]
    ! x = [1 2 3 | 4 5 6]
    case (26) ! element 1 to 5, element 2 to 1, element 3 dropped
       shp = [5]; nb = 2; name = 'unpack_mask'
       vals = [2.0, 0.0, 0.0, 0.0, 1.0, 5.0, 0.0, 0.0, 0.0, 4.0]
       gx = [2.0, 4.0, 0.0, 8.0, 10.0, 0.0]
       hv = [2.0, -2.0, 0.0, 2.0, -2.0, 0.0]
    case (27)
       shp = [4]; nb = 2; name = 'unpack_mask'
       vals = [1.0, 2.0, 3.0, 0.0, 4.0, 5.0, 6.0, 0.0]
       gx = 2.0 * iota(6)
    case (28) ! sample 1 to 4, sample 2 to 1
       shp = [3]; nb = 4; name = 'unpack_mask'
       vals = [4.0, 5.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
       gx = 2.0 * iota(6)
       hv = 2.0 * [dir_v(3), dir_v(3)]
    case (29) ! element 1 to 3, element 2 to 1, element 3 dropped
       shp = [4]; nb = 2; name = 'unpack_indices'
       vals = [2.0, 0.0, 1.0, 0.0, 5.0, 0.0, 4.0, 0.0]
       gx = [2.0, 4.0, 0.0, 8.0, 10.0, 0.0]
    case (30)
       shp = [3]; nb = 3; name = 'unpack_indices'
       vals = [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
       gx = 2.0 * iota(6)
    case (31) ! sample 1 to 3, sample 2 dropped
       shp = [3]; nb = 3; name = 'unpack_indices'
       vals = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
       gx = [2.0, 4.0, 6.0, 0.0, 0.0, 0.0]
       hv = [2.0, -2.0, 4.0, 0.0, 0.0, 0.0]
    ! x = [1 .. 6 | 7 .. 12]; M = reshape(x, [2, 3]), w = [1 -1 2]: M w = [8 10 | 20 22],
    ! d sum((M w)**2)/dM = 2 (M w) w^T
    case (32)
       shp = [2, 3]; nb = 2; name = 'reshape'
       vals = iota(12)
       gx = [16.0, 20.0, -16.0, -20.0, 32.0, 40.0, 40.0, 44.0, -40.0, -44.0, 80.0, 88.0]
       hv = [10.0, -10.0, -10.0, 10.0, 20.0, -20.0, 10.0, -10.0, -10.0, 10.0, 20.0, -20.0]
    ! x = [1 2 3 | 4 5 6], mask [T F F | T T F]
    case (33) ! y = [10 20 30 | 40 50 60]
       shp = [3]; nb = 2; name = 'merge'
       vals = [1.0, 20.0, 30.0, 4.0, 5.0, 60.0]
       gx = [2.0, 0.0, 0.0, 8.0, 10.0, 0.0]
       gy = [0.0, 40.0, 60.0, 0.0, 0.0, 120.0]
       hv = [2.0, 0.0, 0.0, 2.0, -2.0, 0.0]
    case (34)
       shp = [3]; nb = 2; name = 'merge_scalar'
       vals = [1.0, 0.5, 0.5, 4.0, 5.0, 0.5]
       gx = [2.0, 0.0, 0.0, 8.0, 10.0, 0.0]
    case (35)
       shp = [3]; nb = 2; name = 'merge_scalar'
       vals = [0.5, 2.0, 3.0, 0.5, 0.5, 6.0]
       gx = [0.0, 4.0, 6.0, 0.0, 0.0, 12.0]
       hv = [0.0, -2.0, 4.0, 0.0, 0.0, 4.0]
    case (36) ! fsource [7 8 9 | -1 -2 -3]
       shp = [3]; nb = 2; name = 'merge'
       vals = [1.0, 8.0, 9.0, 4.0, 5.0, -3.0]
       gx = [2.0, 0.0, 0.0, 8.0, 10.0, 0.0]
    case (37) ! y1 = [10 20 30] shared by both samples
       shp = [3]; nb = 2; name = 'merge'
       vals = [1.0, 20.0, 30.0, 4.0, 5.0, 30.0]
       gx = [2.0, 0.0, 0.0, 8.0, 10.0, 0.0]
       gy = [0.0, 40.0, 120.0]
    case (38) ! x = [1 2 3], one sample shared by the batch
       shp = [3]; nb = 3; name = 'spread'
       vals = [iota(3), iota(3), iota(3)]
       gx = 6.0 * iota(3)
       hv = 6.0 * dir_v(3)
    case (39) ! y = [10 11] shared by both samples
       shp = [5]; nb = 2; name = 'concat'
       vals = [1.0, 2.0, 3.0, 10.0, 11.0, 4.0, 5.0, 6.0, 10.0, 11.0]
       gx = 2.0 * iota(6)
       gy = [40.0, 44.0]
    case (40) ! concat(...) = [4 5 6 | 1 2 3 | 1 2 3 | 4 5 6]: each sample twice
       shp = [2]; nb = 4; name = 'slice_left'
       vals = [4.0, 5.0, 1.0, 2.0, 1.0, 2.0, 4.0, 5.0]
       gx = [4.0, 8.0, 0.0, 16.0, 20.0, 0.0]
       hv = [4.0, -4.0, 0.0, 4.0, -4.0, 0.0]
    case (41) ! tsource y1 = [10 20 30] shared by both samples
       shp = [3]; nb = 2; name = 'merge'
       vals = [10.0, 2.0, 3.0, 10.0, 20.0, 6.0]
       gx = [0.0, 4.0, 6.0, 0.0, 0.0, 12.0]
       gy = [40.0, 40.0, 0.0]
    case (42) ! fsource [7 8 9], one column for both samples
       shp = [3]; nb = 2; name = 'merge'
       vals = [1.0, 8.0, 9.0, 4.0, 5.0, 9.0]
       gx = [2.0, 0.0, 0.0, 8.0, 10.0, 0.0]
    case default
       error stop 'expected: bad case'
    end select
  end subroutine expected

  !> Values, shape, batch and name, and derivatives of sum(inner**2) against hand-worked ones.
  subroutine check_literal(code)
    integer, intent(in) :: code
    type(array_type), pointer :: p, g, df, d2, dp
    integer, allocatable :: shp(:)
    integer :: nb, ex, sx
    real(real32), allocatable :: vals(:), gx(:), gy(:), hv(:), vx(:,:), ux(:,:), vy(:,:)
    character(len=20) :: name
    character(len=:), allocatable :: tag

    tag = trim(CASE_NAMES(code))
    call setup(code, .false.)
    ex = size(x%val, 1)
    sx = size(x%val, 2)
    call expected(code, shp, nb, vals, name, gx, gy, hv)

    p => op(code)
    call check(trim(p%operation) == trim(name), tag // ': operation is ' // trim(name) // &
         ' (got ' // trim(p%operation) // ')')
    call check(same_shape(p%shape, shp), tag // ': per-sample shape')
    call check(size(p%val, 2) == nb, tag // ': batch size')
    call check_close(flat(p%val), vals, TOL, tag // ': values')
    if (code == 32) then
       ! the tangent of a reshaped array has the new shape
       call x%set_direction(dir_v(ex))
       dp => p%grad_forward(x)
       call check(same_shape(dp%shape, [2, 3]) .and. size(dp%val, 2) == 2, &
            tag // ': forward tangent has shape [2, 3] and batch 2')
       call check_close(flat(dp%val), flat(in_every_sample(dir_v(ex), sx)), TOL, &
            tag // ': forward tangent = direction')
       call release(dp)
    end if
    deallocate(p)

    ! reverse mode
    g => build_g(code, SQUARE)
    call g%grad_reverse()
    call check_close(flat(x%grad%val), gx, TOL, tag // ': reverse d sum(op**2)/dx')
    if (allocated(gy)) call check_close(flat(y%grad%val), gy, TOL, &
         tag // ': reverse d sum(op**2)/dy')

    ! forward mode: the derivative along V is sum(grad * V)
    vx = in_every_sample(dir_v(ex), sx)
    call x%set_direction(dir_v(ex))
    df => g%grad_forward(x)
    call check(size(df%val) == 1, tag // ': forward derivative of a sum is one number')
    call check_close(df%val(1, 1), sum(gx * flat(vx)), TOL, tag // ': forward d sum(op**2)')
    if (allocated(gy)) then
       vy = in_every_sample(dir_v(size(y%val, 1)), size(y%val, 2))
       call y%set_direction(dir_v(size(y%val, 1)))
       d2 => g%grad_forward(y)
       call check_close(d2%val(1, 1), sum(gy * flat(vy)), TOL, &
            tag // ': forward d sum(op**2) along y')
       call release(d2)
    end if

    ! second order: H v by reverse over forward, u^T H v by forward over forward
    if (allocated(hv)) then
       call x%zero_grad()
       if (uses_y) call y%zero_grad()
       call df%grad_reverse()
       call check_close(flat(x%grad%val), hv, TOL, tag // ': H v by reverse over forward')
       ux = in_every_sample(dir_u(ex), sx)
       call x%set_direction(dir_u(ex))
       d2 => df%grad_forward(x)
       call check_close(d2%val(1, 1), sum(flat(ux) * hv), TOL, &
            tag // ': u^T H v by forward over forward')
       call release(d2)
    end if
    call release(df)
    call release(g)
    call teardown()
  end subroutine check_literal

  !> g = sum(W * inner**2) (or with `kind` another build_g function) at x + dx (and y + dy);
  !> the operands are restored after.
  function value_at(code, dx, dy, kind) result(v)
    integer, intent(in) :: code
    integer, intent(in), optional :: kind
    real(real32), intent(in) :: dx(:,:)
    real(real32), intent(in), optional :: dy(:,:)
    real(real32) :: v
    real(real32), allocatable :: x0(:,:), y0(:,:)
    type(array_type), pointer :: g
    x0 = x%val
    x%val = x0 + dx
    if (present(dy)) then
       y0 = y%val
       y%val = y0 + dy
    end if
    if (present(kind)) then
       g => build_g(code, kind)
    else
       g => build_g(code, WSQUARE)
    end if
    v = g%val(1, 1)
    call release(g)
    x%val = x0
    if (present(dy)) y%val = y0
  end function value_at

  !> Central difference of g (default sum(W * inner**2)) along dx (and dy), step HS.
  real(real32) function central(code, dx, dy, kind)
    integer, intent(in) :: code
    real(real32), intent(in) :: dx(:,:)
    real(real32), intent(in), optional :: dy(:,:)
    integer, intent(in), optional :: kind
    if (present(dy)) then
       central = (value_at(code, HS * dx, HS * dy, kind) &
            - value_at(code, -HS * dx, -HS * dy, kind)) / (2.0 * HS)
    else
       central = (value_at(code, HS * dx, kind=kind) - value_at(code, -HS * dx, kind=kind)) &
            / (2.0 * HS)
    end if
  end function central

  !> Mixed second difference of g along a and b (both perturb x), step HS.
  real(real32) function mixed(code, a, b)
    integer, intent(in) :: code
    real(real32), intent(in) :: a(:,:), b(:,:)
    mixed = (value_at(code, HS * (a + b)) - value_at(code, HS * (a - b)) &
         - value_at(code, HS * (b - a)) + value_at(code, -HS * (a + b))) / (4.0 * HS**2)
  end function mixed

  !> A unit perturbation of element k (column-major) of an (n, batch) operand.
  function unit(n, batch, k) result(m)
    integer, intent(in) :: n, batch, k
    real(real32) :: m(n, batch)
    m = reshape(unit_vector(n * batch, k), [n, batch])
  end function unit

  !> First and second derivatives of the weighted composite against central differences.
  subroutine check_numeric(code)
    integer, intent(in) :: code
    type(array_type), pointer :: g, df, d2
    real(real32), allocatable :: vx(:,:), ux(:,:), vy(:,:), zx(:,:)
    real(real32), allocatable :: fd_x(:), fd_y(:), fd_hv(:), fd_seed(:)
    type(array_type), pointer :: p
    real(real32) :: fd_v, fd_vy, fd_uv
    integer :: ex, sx, ey, sy, k
    character(len=:), allocatable :: tag

    tag = trim(CASE_NAMES(code)) // ' weighted'
    call setup(code, .true.)
    ex = size(x%val, 1)
    sx = size(x%val, 2)
    vx = in_every_sample(dir_v(ex), sx)
    ux = in_every_sample(dir_u(ex), sx)
    zx = 0.0 * vx

    ! central differences first (the operands are restored after each)
    allocate(fd_x(ex * sx), fd_hv(ex * sx), fd_seed(ex * sx))
    do k = 1, ex * sx
       fd_x(k) = central(code, unit(ex, sx, k))
       fd_hv(k) = mixed(code, vx, unit(ex, sx, k))
       fd_seed(k) = central(code, unit(ex, sx, k), kind=WLINEAR)
    end do
    fd_v = central(code, vx)
    fd_uv = mixed(code, ux, vx)
    if (uses_y) then
       ey = size(y%val, 1)
       sy = size(y%val, 2)
       vy = in_every_sample(dir_v(ey), sy)
       allocate(fd_y(ey * sy))
       do k = 1, ey * sy
          fd_y(k) = central(code, zx, unit(ey, sy, k))
       end do
       fd_vy = central(code, zx, vy)
    end if

    g => build_g(code, WSQUARE)
    call g%grad_reverse()
    call check_close(flat(x%grad%val), fd_x, TOL_FD, tag // ': reverse d/dx vs central differences')
    if (uses_y) call check_close(flat(y%grad%val), fd_y, TOL_FD, &
         tag // ': reverse d/dy vs central differences')

    call x%set_direction(dir_v(ex))
    df => g%grad_forward(x)
    call check_close(df%val(1, 1), fd_v, TOL_FD, tag // ': forward along x vs central difference')
    if (uses_y) then
       call y%set_direction(dir_v(ey))
       d2 => g%grad_forward(y)
       call check_close(d2%val(1, 1), fd_vy, TOL_FD, &
            tag // ': forward along y vs central difference')
       call release(d2)
    end if

    call x%zero_grad()
    if (uses_y) call y%zero_grad()
    call df%grad_reverse()
    call check_close(flat(x%grad%val), fd_hv, TOL_FD, &
         tag // ': H v by reverse over forward vs second differences')
    call x%set_direction(dir_u(ex))
    d2 => df%grad_forward(x)
    call check_close(d2%val(1, 1), fd_uv, TOL_FD, &
         tag // ': u^T H v by forward over forward vs second difference')
    call release(d2)
    call release(df)
    call release(g)

    ! reverse mode from the result itself with a custom seed W written into its gradient:
    ! the adjoint of the operation applied to W
    p => inner(code)
    call p%grad_reverse()
    call x%zero_grad()
    if (uses_y) call y%zero_grad()
    p%grad%val = weights(size(p%val, 1), size(p%val, 2))
    call p%grad_reverse()
    call check_close(flat(x%grad%val), fd_seed, TOL_FD, &
         tag // ': reverse with seed W on op(x) vs central differences of sum(W * op(x))')
    call release(p)
    call teardown()
  end subroutine check_numeric

end program test_movement
