! EXPECT: ERROR: grad_reverse: custom operation 'halve' has no reverse rule
!> A custom operation with a forward rule only: reverse mode stops with a clear message.
module halve_op
  use diffstruc
  implicit none
contains
  function halve(a) result(r)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: r
    r => a%create_result()
    r%val = 0.5 * a%val
    r%get_partial_left => halve_partial
    r%requires_grad = .true.
    r%operation = 'halve'
    r%left_operand => a
  end function halve

  function halve_partial(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    type(array_type), pointer :: ptr
    ptr => 0.5 * upstream_grad
    call output%assign_and_deallocate_source(ptr)
  end function halve_partial
end module halve_op

program fail_custom_no_reverse
  use diffstruc
  use halve_op
  implicit none
  type(array_type) :: x
  type(array_type), pointer :: f
  call x%allocate([2, 1], source=1.0)
  call x%set_requires_grad(.true.)
  x%is_temporary = .false.
  f => halve(x)
  call f%grad_reverse()
end program fail_custom_no_reverse
