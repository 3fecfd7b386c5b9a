!> Graph utilities: duplicate_graph (an independent copy that differentiates on its own, shared
!> nodes copied once, fix_pointer arrays kept), detach, get_ptr_from_id (pre-order search of
!> id tags), set/extract of ranks 4 and 5, the array_type constructor; no array left alive.
program test_graph_utils
  use diffstruc
  use test_utils, only: check, check_close, finish, flat
  implicit none
  type(array_type) :: x, w, z
  type(array_type), pointer :: s, f, c, p, q
  real(real32), allocatable :: out4(:,:,:,:), out5(:,:,:,:,:)
  real(real32) :: in4(2, 1, 3, 2), in5(1, 2, 1, 3, 2)
  integer :: i, live

  live = diffstruc_live_arrays()
  call x%allocate(source=reshape([1.0, 2.0], [2, 1]))
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  x%id = 1
  call w%allocate(source=reshape([3.0, 4.0], [2, 1]))
  call w%set_requires_grad(.true.)
  w%is_temporary = .false.
  w%fix_pointer = .true.
  w%id = 2

  ! f = s + s with s = x * w (s shared)
  s => x * w
  s%is_temporary = .false.
  s%id = 3
  f => s + s
  f%id = 4

  ! ---- get_ptr_from_id ---------------------------------------------------------------------
  p => f%get_ptr_from_id(1)
  call check(associated(p), 'get_ptr_from_id(1): found')
  if (associated(p)) call check_close(flat(p%val), [1.0, 2.0], 0.0, 'get_ptr_from_id(1) is x')
  q => f%get_ptr_from_id(3)
  call check(associated(q), 'get_ptr_from_id(3): found')
  if (associated(q)) call check_close(flat(q%val), [3.0, 8.0], 0.0, 'get_ptr_from_id(3) is s')
  call check(associated(f%get_ptr_from_id(4), f), 'get_ptr_from_id of the root is the root')
  call check(.not. associated(f%get_ptr_from_id(99)), 'get_ptr_from_id(99): none')

  ! ---- duplicate_graph -----------------------------------------------------------------------
  c => f%duplicate_graph()
  call check_close(flat(c%val), [6.0, 16.0], 0.0, 'duplicate_graph: values')
  call check(trim(c%operation) == 'add' .and. c%id == 4, 'duplicate_graph: operation and id')
  call c%grad_reverse()
  p => c%get_ptr_from_id(1)
  call check(associated(p), 'copy: x copied with its id')
  if (associated(p)) then
     call check_close(flat(p%grad%val), [6.0, 8.0], 0.0, 'copy: d c / d x_copy = 2 w')
     p%val(:, 1) = 0.0
  end if
  call check_close(flat(f%val), [6.0, 16.0], 0.0, 'the original keeps its values')
  call check(all(x%grad%val == 0.0), 'the original x has no gradient from the copy')
  call check_close(flat(w%grad%val), [2.0, 4.0], 0.0, &
       'fix_pointer w is shared by the copy: d c / d w = 2 x')
  deallocate(c)

  ! ---- detach --------------------------------------------------------------------------------
  call s%detach()
  call check(.not. s%requires_grad .and. trim(s%operation) == 'none', 'detach: a constant')
  call check_close(flat(s%val), [3.0, 8.0], 0.0, 'detach: values kept')
  call x%zero_grad()
  call w%zero_grad()
  call f%grad_reverse()
  call check(all(x%grad%val == 0.0) .and. all(w%grad%val == 0.0), &
       'no gradient flows through a detached node')
  deallocate(f, s)

  ! ---- set / extract of ranks 4 and 5 ---------------------------------------------------------
  in4 = reshape([(real(i), i = 1, 12)], shape(in4))
  call z%allocate([2, 1, 3, 2])
  call z%set(in4)
  call z%extract(out4)
  call check(all(shape(out4) == [2, 1, 3, 2]) .and. all(out4 == in4), 'set/extract rank 4')
  call z%deallocate()
  in5 = reshape([(real(-i), i = 1, 12)], shape(in5))
  call z%allocate([1, 2, 1, 3, 2])
  call z%set(in5)
  call z%extract(out5)
  call check(all(shape(out5) == [1, 2, 1, 3, 2]) .and. all(out5 == in5), 'set/extract rank 5')
  call check_close(z%flatten(), [(real(-i), i = 1, 6)], 0.0, 'flatten: the first sample')
  call z%deallocate()
  deallocate(out4, out5)

  ! ---- constructor ---------------------------------------------------------------------------
  z = array_type()
  call check(.not. z%allocated .and. z%id == -1 .and. z%is_temporary .and. &
       trim(z%operation) == 'none', 'array_type(): defaults')

  call x%deallocate()
  call w%deallocate()
  call check(diffstruc_live_arrays() == live, 'no array left alive')
  call finish()
end program test_graph_utils
