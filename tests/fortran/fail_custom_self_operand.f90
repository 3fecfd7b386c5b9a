! EXPECT: ERROR: custom operation: 'selfish': its operands lead back to the result itself \(a cycle\)
!> A custom result linked to itself as its operand: a clear error, not endless recursion.
module selfish_op
  use diffstruc
  implicit none
contains
  function halve_partial(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    ptr => 0.5 * upstream_grad
    call output%assign_and_deallocate_source(ptr)
  end function halve_partial
end module selfish_op

program fail_custom_self_operand
  use diffstruc
  use selfish_op
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: r, s
  call x%allocate([2, 1], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  r => x%create_result()
  r%get_partial_left => halve_partial
  r%requires_grad = .true.
  r%operation = 'selfish'
  r%left_operand => r
  s => r * 2.0
end program fail_custom_self_operand
