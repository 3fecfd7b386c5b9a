! EXPECT: ERROR: print_graph: the array is not allocated
!> print_graph on an array that was never allocated.
program fail_err_print_graph_unallocated
  use diffstruc
  implicit none
  type(array_type) :: x
  call x%print_graph()
  ! not reached
  write(*, *) 'no error for print_graph on an unallocated array'
end program fail_err_print_graph_unallocated
