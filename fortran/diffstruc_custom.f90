!> Custom operations of module diffstruc, in diffstruc's pattern: user code creates a result
!> (`create_result`), fills its `val`, points its `get_partial_*` procedure pointers at its
!> rules and links its operands. The first time the result is used, it is registered with the
!> core as a custom operation; the core then calls the rules back: the graph-building rule in
!> forward mode (the tangent it returns can be differentiated again) and the numeric rule in
!> reverse mode. The rules see `this` and its operands as views of the core arrays, with their
!> metadata (`indices`, `adj_ja`, `mask`) and rule pointers.
submodule (diffstruc) diffstruc_custom
  implicit none


contains

  !> True if user code gave `x` derivative rules (the rule pointers of a built-in result point
  !> at the built-in rules below, which are not custom rules).
  module logical function has_rules(x)
    class(array_type), intent(in) :: x
    has_rules = .false.
    if (associated(x%get_partial_left)) &
         has_rules = .not. associated(x%get_partial_left, builtin_partial_left)
    if (associated(x%get_partial_right)) has_rules = has_rules .or. &
         .not. associated(x%get_partial_right, builtin_partial_right)
    if (associated(x%get_partial_left_val)) has_rules = has_rules .or. &
         .not. associated(x%get_partial_left_val, builtin_partial_left_val)
    if (associated(x%get_partial_right_val)) has_rules = has_rules .or. &
         .not. associated(x%get_partial_right_val, builtin_partial_right_val)
  end function has_rules

!===============================================================================================
! The rule pointers of built-in results: diffstruc's results carry their operation's rules in
! `get_partial_*`; ours point at these, which ask the core for the operation's reverse rule
!===============================================================================================

  !> Points a built-in result's rule pointers at the built-in rules (`binary`: two operands).
  module subroutine set_builtin_rules(c, binary)
    type(array_type), intent(inout) :: c
    logical, intent(in) :: binary
    c%get_partial_left => builtin_partial_left
    c%get_partial_left_val => builtin_partial_left_val
    if (binary) then
       c%get_partial_right => builtin_partial_right
       c%get_partial_right_val => builtin_partial_right_val
    end if
  end subroutine set_builtin_rules

  module function builtin_partial_left(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    call builtin_partial(this, upstream_grad, 0_c_size_t, output)
  end function builtin_partial_left

  module function builtin_partial_right(this, upstream_grad) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    type(array_type) :: output
    call builtin_partial(this, upstream_grad, 1_c_size_t, output)
  end function builtin_partial_right

  module pure subroutine builtin_partial_left_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    call builtin_partial_val(this, upstream_grad, 0_c_size_t, output)
  end subroutine builtin_partial_left_val

  module pure subroutine builtin_partial_right_val(this, upstream_grad, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    real(real32), dimension(:,:), intent(out) :: output
    call builtin_partial_val(this, upstream_grad, 1_c_size_t, output)
  end subroutine builtin_partial_right_val

  !> The values of operand `k`'s partial (`output` has the operand's extents).
  pure subroutine builtin_partial_val(this, upstream_grad, k, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(:,:), intent(in) :: upstream_grad
    integer(c_size_t), intent(in) :: k
    real(real32), dimension(:,:), intent(out) :: output
    type(c_ptr) :: h
    integer(c_int) :: status
    h = c_null_ptr
    if (allocated(this%ref)) h = this%ref%h
    call diffstruc_partial(h, k, upstream_grad, size(upstream_grad, kind=c_size_t), output, &
         size(output, kind=c_size_t), status)
    if (status /= DS_OK) &
         error stop 'get_partial_*_val: this built-in result has no operation or other extents'
  end subroutine builtin_partial_val

  !> Operand `k`'s partial as a new array (a constant: built-in rules are differentiated again
  !> through forward mode, not through these pointers).
  subroutine builtin_partial(this, upstream_grad, k, output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: upstream_grad
    integer(c_size_t), intent(in) :: k
    type(array_type), intent(inout) :: output
    type(c_ptr) :: h, hk
    logical(c_bool) :: owned
    integer(c_int64_t) :: e, s
    integer(c_int) :: status
    real(real32), allocatable :: v(:,:)
    h = operand(this, 'get_partial')
    call check(ds_array_input(h, k, hk, owned), 'get_partial')
    call check(ds_array_extents(hk, e, s), 'get_partial')
    call check(ds_array_free(hk), 'get_partial')
    allocate(v(e, s))
    if (.not. allocated(upstream_grad%val)) call fatal('get_partial', 'upstream_grad is not allocated')
    call diffstruc_partial(h, k, upstream_grad%val, size(upstream_grad%val, kind=c_size_t), v, &
         size(v, kind=c_size_t), status)
    call check(status, 'get_partial')
    call output%allocate(array_shape=[int(e), int(s)], source=v)
  end subroutine builtin_partial

  !> Registers a custom result with the core, once: its operands become the array's inputs and
  !> its rules are called back by the differentiation passes. Operands the result owns
  !> (`owns_*_operand`) that are results of this module, or constants (no gradient), are
  !> released with the result, as diffstruc does.
  module recursive subroutine sync_custom(x, object)
    type(array_type), intent(inout), target :: x
    !> `x` as the program declared it (its dynamic type)
    class(array_type), intent(in) :: object
    character(len=*), parameter :: where = 'custom operation'
    type(custom_rules), pointer :: r
    type(ds_custom_rules) :: rules
    type(c_ptr) :: hs(2), op
    integer(c_size_t) :: n
    if (.not. allocated(x%ref) .or. .not. has_rules(x)) return
    if (.not. (associated(x%left_operand) .or. associated(x%right_operand))) return
    call check(ds_array_num_inputs(x%ref%h, n), where)
    if (n /= 0) return
    if (x%registering) call fatal(where, '''' // trim(x%operation) // &
         ''': its operands lead back to the result itself (a cycle)')
    x%registering = .true.
    n = 0
    if (associated(x%left_operand)) then
       n = n + 1
       hs(n) = operand(x%left_operand, where)
    end if
    if (associated(x%right_operand)) then
       n = n + 1
       hs(n) = operand(x%right_operand, where)
    end if
    x%registering = .false.
    allocate(r)
    r%left => x%get_partial_left
    r%right => x%get_partial_right
    r%left_val => x%get_partial_left_val
    r%right_val => x%get_partial_right_val
    r%operation = trim(x%operation)
    r%has_left = associated(x%left_operand)
    r%has_right = associated(x%right_operand)
    if (.not. same_type_as(object, x)) then
       allocate(r%prototype, source=object)
       call strip(r%prototype)
    end if
    ! without any rule of a kind, the core reports that mode as unavailable
    rules = ds_custom_rules(c_loc(r), c_null_funptr, c_null_funptr, c_funloc(custom_destroy))
    if (associated(r%left) .or. associated(r%right)) rules%jvp = c_funloc(custom_jvp)
    if (associated(r%left_val) .or. associated(r%right_val)) rules%vjp = c_funloc(custom_vjp)
    call check(ds_custom_op_create(trim(x%operation) // c_null_char, rules, op), where)
    call check(ds_array_set_custom(x%ref%h, op, hs, n), where)
    call check(ds_custom_op_free(op), where)
    if (associated(x%left_operand) .and. x%owns_left_operand) &
         call adopt_constant(x%ref%h, x%left_operand)
    if (associated(x%right_operand) .and. x%owns_right_operand) &
         call adopt_constant(x%ref%h, x%right_operand)
  end subroutine sync_custom

  !> A prototype keeps its type and small components, not its values or its token.
  subroutine strip(p)
    type(array_type), intent(inout) :: p
    if (allocated(p%val)) deallocate(p%val)
    ! a deep copy's own token: it speaks for nothing
    if (allocated(p%ref)) deallocate(p%ref)
    p%grad => null()
    p%left_operand => null()
    p%right_operand => null()
    p%original = c_null_ptr
  end subroutine strip

  !> A view of core array `h` with the rules of `r` (what a rule sees as `this`), and views of
  !> the operands.
  function node_view(r, out, inputs, n) result(this)
    type(custom_rules), intent(in) :: r
    type(c_ptr), intent(in) :: out, inputs
    integer(c_size_t), intent(in) :: n
    class(array_type), pointer :: this
    type(c_ptr), pointer :: hs(:)
    call c_f_pointer(inputs, hs, [n])
    if (allocated(r%prototype)) then
       this => make_view(out, r%prototype)
    else
       this => make_view(out)
    end if
    this%operation = r%operation
    this%get_partial_left => r%left
    this%get_partial_right => r%right
    this%get_partial_left_val => r%left_val
    this%get_partial_right_val => r%right_val
    if (r%has_left) this%left_operand => make_view(hs(1))
    if (r%has_right) this%right_operand => make_view(hs(n))
  end function node_view

  !> The rule slot of core input `k` (0-based): true for the left operand.
  logical function is_left_slot(r, k)
    type(custom_rules), intent(in) :: r
    integer(c_size_t), intent(in) :: k
    is_left_slot = r%has_left .and. k == 0
  end function is_left_slot

  !> Reports a missing rule procedure to the core (status DS_ERR_NO_GRAD).
  integer(c_int) function missing_rule(rule, operation) result(status)
    character(len=*), intent(in) :: rule, operation
    call ds_set_last_error('the ' // trim(rule) // ' procedure pointer of ''' // &
         trim(operation) // ''' is not set' // c_null_char)
    status = 5
  end function missing_rule

  !> Forward rule callback: `get_partial_left` (or, for a node with a left operand only, its
  !> `get_partial_right` when set: diffstruc's convention) applied to the tangent.
  function custom_jvp(user, out, inputs, n, k, tangent, contribution) result(status) bind(c)
    type(c_ptr), value :: user, out, inputs
    integer(c_size_t), value :: n, k
    type(c_ptr), value :: tangent
    type(c_ptr), intent(out) :: contribution
    integer(c_int) :: status
    type(custom_rules), pointer :: r
    class(array_type), pointer :: this, up
    procedure(get_partial), pointer :: rule
    call c_f_pointer(user, r)
    contribution = c_null_ptr
    if (is_left_slot(r, k)) then
       rule => r%left
       if (.not. r%has_right .and. associated(r%right)) rule => r%right
    else
       rule => r%right
    end if
    if (.not. associated(rule)) then
       status = missing_rule('get_partial_right', r%operation)
       return
    end if
    this => node_view(r, out, inputs, n)
    this%is_forward = .true.
    this%requires_grad = .true.
    up => make_view(tangent)
    call take_result(rule(this, up), contribution)
    call drop_object(up)
    call drop_object(this)
    status = DS_OK
  end function custom_jvp

  !> Takes the core array out of a rule's result (a function result object): the handle the
  !> object owns is taken over (the object then frees nothing); if the compiler handed over a
  !> copy of the result instead, a new handle to the same array is made.
  subroutine take_result(x, h)
    type(array_type), intent(in), target :: x
    type(c_ptr), intent(out) :: h
    type(array_type), pointer :: p
    logical(c_bool) :: taken
    h = c_null_ptr
    p => x
    if (.not. allocated(p%val)) return
    if (size(p%val) == 0) return
    h = operand(p, 'custom operation')
    call return_values(p)
    call check(ds_binding_take(c_loc(p%ref), h, taken), 'custom operation')
    if (taken) then
       p%ref%h = c_null_ptr
    else
       call check(ds_array_share(h, h), 'custom operation')
    end if
  end subroutine take_result

  !> Reverse rule callback: `get_partial_left_val` / `get_partial_right_val`.
  function custom_vjp(user, out, inputs, n, k, upstream, grad, grad_batch) result(status) &
       bind(c)
    type(c_ptr), value :: user, out, inputs
    integer(c_size_t), value :: n, k
    type(c_ptr), value :: upstream, grad
    integer(c_size_t), value :: grad_batch
    integer(c_int) :: status
    type(custom_rules), pointer :: r
    class(array_type), pointer :: this
    real(real32), pointer :: g_up(:,:), g_in(:,:)
    procedure(get_partial_val), pointer :: rule
    integer :: e_in
    call c_f_pointer(user, r)
    if (is_left_slot(r, k)) then
       rule => r%left_val
    else
       rule => r%right_val
    end if
    if (.not. associated(rule)) then
       status = missing_rule(merge('get_partial_left_val ', 'get_partial_right_val', &
            is_left_slot(r, k)), r%operation)
       return
    end if
    this => node_view(r, out, inputs, n)
    call c_f_pointer(upstream, g_up, shape(this%val))
    if (is_left_slot(r, k)) then
       e_in = size(this%left_operand%val, 1)
    else
       e_in = size(this%right_operand%val, 1)
    end if
    call c_f_pointer(grad, g_in, [e_in, int(grad_batch)])
    call rule(this, g_up, g_in)
    call drop_object(this)
    status = DS_OK
  end function custom_vjp

  !> Frees a rules record when its operation is no longer used.
  subroutine custom_destroy(user) bind(c)
    type(c_ptr), value :: user
    type(custom_rules), pointer :: r
    call c_f_pointer(user, r)
    ! gfortran 12 "finalises" procedure-pointer components whose interface returns an
    ! array_type, at the procedure's address: nullify them first (a null object is ignored)
    r%left => null()
    r%right => null()
    r%left_val => null()
    r%right_val => null()
    ! deallocated by itself first: LLVM flang 22 frees only the declared type's components of a
    ! polymorphic allocatable component when it deallocates the object that holds it
    if (allocated(r%prototype)) deallocate(r%prototype)
    deallocate(r)
  end subroutine custom_destroy

end submodule diffstruc_custom
