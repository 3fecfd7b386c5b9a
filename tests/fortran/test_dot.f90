!> Graph pictures (an extension): diffstruc_graph_dot's DOT text for a small graph with a shared
!> node, and diffstruc_write_dot's file (rendered with graphviz by the `dot_render` test when
!> `dot` is installed).
program test_dot
  use diffstruc
  use test_utils
  implicit none
  type(array_type) :: x, y
  type(array_type), pointer :: f
  character(len=:), allocatable :: text
  character(len=4096) :: line
  integer :: unit, ios, nodes, edges
  call new_variable(x, [1.0, 2.0], .true.)
  call new_variable(y, [3.0, 4.0], .false.)
  f => x * x + y
  text = diffstruc_graph_dot(f)
  call check(index(text, 'digraph diffstruc {') == 1, 'DOT: a digraph')
  ! (DOT's line break, a backslash then n: written with achar, as flang reads '\n' in a literal
  ! as an escape)
  call check(index(text, 'add' // achar(92) // 'n[2] x 1') > 0, &
       'DOT: root labelled with operation, shape, batch')
  call check(index(text, 'multiply' // achar(92) // 'n[2] x 1') > 0, 'DOT: the product')
  call check(count_of(text, '[label=') == 4, 'DOT: x drawn once (4 nodes)')
  call check(count_of(text, '->') == 4, 'DOT: 4 edges')
  call diffstruc_write_dot(f, 'test_dot.dot')
  open (newunit=unit, file='test_dot.dot', status='old', action='read')
  nodes = 0
  edges = 0
  do
     read (unit, '(a)', iostat=ios) line
     if (ios /= 0) exit
     if (index(line, '[label=') > 0) nodes = nodes + 1
     if (index(line, '->') > 0) edges = edges + 1
  end do
  close (unit)
  call check(nodes == 4 .and. edges == 4, 'DOT file: the same graph')
  deallocate(text)
  call release(f)
  call x%deallocate()
  call y%deallocate()
  call finish()
contains
  integer function count_of(s, what)
    character(len=*), intent(in) :: s, what
    integer :: at, k
    count_of = 0
    at = 1
    do
       k = index(s(at:), what)
       if (k == 0) exit
       count_of = count_of + 1
       at = at + k + len(what) - 1
    end do
  end function count_of
end program test_dot
