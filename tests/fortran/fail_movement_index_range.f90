! EXPECT: ERROR: \.index\.: index: index 3 \(entry 2 of the list\) is out of range 1\.\.2
!> .index. with a sample index beyond the batch stops with an error naming the entry.
program fail_movement_index_range
  use diffstruc
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  call x%allocate(source=reshape([1.0, 2.0, 3.0, 4.0], [2, 2]))
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => x .index. [1, 3]
  ! not reached
  write(*, *) 'no error for sample 3 of a batch of 2:', f%val
end program fail_movement_index_range
