!> diffstruc: automatic differentiation of real32 arrays, source compatible with diffstruc 1.1.1.
!>
!> `use diffstruc` gives `type(array_type)` with diffstruc's components, type-bound procedures,
!> operators and generics. Values and gradients live in the Rust core (libdiffstruc): `x%val` and
!> `x%grad%val` are Fortran pointers onto the core's buffers (no copies), and reference counts in
!> the core decide when memory is released, whatever the ownership flags say. The differences
!> from diffstruc 1.1.1 are listed in docs/differences.md.
!>
!> Memory rules, in short:
!>  * an operation result (`f => x**2`) is a heap object; release it with `deallocate(f)` (or
!>    `call f%deallocate()`); `nullify_graph` is optional and always safe;
!>  * a result consumed by another operation while `is_temporary` is true (the default) belongs
!>    to the consumer and is released with it, as in diffstruc, but only once and only if the
!>    program has not released it itself;
!>  * value copies (`a = b`, compiler temporaries) refer to the same array; releasing any copy,
!>    in any order, any number of times, is safe.
module diffstruc
  use, intrinsic :: iso_c_binding, only: c_ptr, c_null_ptr, c_associated, c_loc, c_funloc, &
       c_null_funptr, &
       c_f_pointer, c_int, c_int32_t, c_int64_t, c_size_t, c_bool, c_float, c_char, c_null_char
  use, intrinsic :: iso_fortran_env, only: error_unit
  use diffstruc_kinds, only: real32
  use diffstruc_c
  implicit none
  private

  public :: real32
  public :: diffstruc__max_recursion_depth, diffstruc__init_map_cap
  public :: array_type, get_partial
  public :: operator(+), operator(-), operator(*), operator(/), operator(**)
  public :: sum, mean, exp, log, sin, cos, tan, tanh
  public :: sqrt, sign, sigmoid, gaussian, abs, log10, max
  public :: matmul, operator(.mmul.), outer_product, operator(.outer.), dot_product, &
       operator(.dot.), transpose
  public :: operator(.lt.), operator(.le.), operator(.gt.), operator(.ge.), maxval
  public :: spread, unspread, concat, slice_left, slice_right, ltrim, rtrim
  public :: operator(.index.), reverse_index, pack, unpack, reshape, merge
  public :: diffstruc_live_arrays

  !> Kept for source compatibility: the core has no recursion and no depth limit.
  integer, save :: diffstruc__max_recursion_depth = 1000
  !> Kept for source compatibility: the core needs no pointer maps.
  integer, save :: diffstruc__init_map_cap = 32

  !> Flag bits exchanged with the core (bit n-1 is DS_FLAG n); RETAIN_GRAD is the core's own.
  integer(c_int32_t), parameter :: BIT_REQUIRES_GRAD = 1, BIT_SAMPLE_DEPENDENT = 2, &
       BIT_SCALAR = 4, BIT_FORWARD = 8, BIT_TEMPORARY = 16, BIT_RETAIN_GRAD = 32, BIT_FIXED = 64
  integer(c_int32_t), parameter :: USER_BITS = BIT_REQUIRES_GRAD + BIT_SAMPLE_DEPENDENT + &
       BIT_SCALAR + BIT_FORWARD + BIT_TEMPORARY + BIT_FIXED

  !> A differentiable array: per-sample `shape` plus a batch of samples; `val(E, S)`.
  type :: array_type
     integer :: id = -1
     integer :: rank = 1
     integer, dimension(:), allocatable :: shape
     integer :: size = 0
     logical :: is_sample_dependent = .true.
     logical :: is_scalar = .false.
     logical :: is_forward = .false.
     logical :: allocated = .false.
     !> Values, shape (E, S): a pointer onto the core's buffer.
     real(real32), dimension(:,:), pointer, contiguous :: val => null()
     integer, dimension(:), allocatable :: indices
     integer, dimension(:,:), allocatable :: adj_ja
     logical, dimension(:,:), allocatable :: mask
     logical :: requires_grad = .false.
     !> Gradient (reverse mode); its `val` is a pointer onto the core's gradient buffer.
     type(array_type), pointer :: grad => null()
     type(array_type), pointer :: left_operand => null()
     type(array_type), pointer :: right_operand => null()
     character(len=32) :: operation = 'none'
     logical :: owns_left_operand = .false.
     logical :: owns_right_operand = .false.
     logical :: owns_gradient = .true.
     logical :: fix_pointer = .false.
     logical :: is_temporary = .true.
     real(real32), dimension(:), allocatable :: direction
     procedure(get_partial), pass(this), pointer :: get_partial_left => null()
     procedure(get_partial), pass(this), pointer :: get_partial_right => null()
     procedure(get_partial_val), pass(this), pointer :: get_partial_left_val => null()
     procedure(get_partial_val), pass(this), pointer :: get_partial_right_val => null()
     !> Handle of the core array (one per object that owns it).
     type(c_ptr), private :: ds = c_null_ptr
     !> Address of the object that owns `ds`: a bitwise copy made by the compiler has a different
     !> address, and so never frees the handle.
     type(c_ptr), private :: self = c_null_ptr
     !> The object was allocated by this module as an operation result.
     logical, private :: heap = .false.
     !> `grad` was allocated for this object and is released with it.
     logical, private :: own_grad = .false.
   contains
     procedure, pass(this) :: allocate => allocate_array
     procedure, pass(this) :: deallocate => deallocate_array
     procedure, pass(this) :: flatten => flatten_array
     procedure, pass(this) :: assign_shallow
     procedure, pass(this) :: assign_and_deallocate_source
     procedure, pass(this) :: set => set_array
     procedure, pass(this) :: extract => extract_array
     procedure, pass(this) :: set_direction
     procedure, pass(this) :: set_requires_grad
     procedure, pass(this) :: grad_reverse
     procedure, pass(this) :: grad_forward
     procedure, pass(this) :: zero_grad
     procedure, pass(this) :: zero_all_grads
     procedure, pass(this) :: reset_graph
     procedure, pass(this) :: nullify_graph
     procedure, pass(this) :: print_graph
     procedure, pass(this) :: create_result
     procedure, pass(this) :: duplicate_graph
     procedure, pass(this) :: detach
     procedure, pass(this) :: get_ptr_from_id

     procedure :: add_arrays, add_real1d, add_real2d, add_scalar
     generic, public :: operator(+) => add_arrays, add_real1d, add_real2d, add_scalar
     procedure :: subtract_arrays, subtract_real2d, subtract_real1d, subtract_scalar, &
          negate_array
     generic, public :: operator(-) => subtract_arrays, subtract_real2d, subtract_real1d, &
          subtract_scalar, negate_array
     procedure :: multiply_arrays, multiply_real2d, multiply_scalar, multiply_logical
     generic, public :: operator(*) => multiply_arrays, multiply_real2d, multiply_scalar, &
          multiply_logical
     procedure :: divide_arrays, divide_scalar, divide_real1d
     generic, public :: operator(/) => divide_arrays, divide_scalar, divide_real1d
     procedure :: power_arrays, power_real_scalar, power_int_scalar
     generic, public :: operator(**) => power_arrays, power_real_scalar, power_int_scalar

     procedure :: assign => assign_array
     generic, public :: assignment(=) => assign
     final :: finalise_array
  end type array_type

  !> Graph-building derivative rule of a custom operation (see diffstruc's custom operations).
  abstract interface
     function get_partial(this, upstream_grad) result(output)
       import :: array_type
       class(array_type), intent(inout) :: this
       type(array_type), intent(in) :: upstream_grad
       type(array_type) :: output
     end function get_partial

     pure subroutine get_partial_val(this, upstream_grad, output)
       import :: array_type, real32
       class(array_type), intent(in) :: this
       real(real32), dimension(:,:), intent(in) :: upstream_grad
       real(real32), dimension(:,:), intent(out) :: output
     end subroutine get_partial_val
  end interface

  !> The outcome of a procedure that can report an error through an optional `stat`.
  type :: outcome
     integer :: status = 0
     character(len=:), allocatable :: message
  end type outcome

  !> The derivative rules of a custom operation (diffstruc's pattern: a result built by user code
  !> with its `get_partial_*` procedure pointers and operands set), handed to the core as the
  !> user data of its callbacks. Freed by the core when the last node using it is released.
  type :: custom_rules
     procedure(get_partial), pointer, nopass :: left => null(), right => null()
     procedure(get_partial_val), pointer, nopass :: left_val => null(), right_val => null()
     logical :: has_left = .false., has_right = .false.
     character(len=32) :: operation = 'none'
     integer, dimension(:), allocatable :: indices
     integer, dimension(:,:), allocatable :: adj_ja
     logical, dimension(:,:), allocatable :: mask
  end type custom_rules

  interface array_type
     module procedure constructor
  end interface array_type

  interface operator(+)
     module procedure real2d_add, real1d_add, scalar_add
  end interface
  interface operator(-)
     module procedure scalar_subtract
  end interface
  interface operator(*)
     module procedure real2d_multiply, scalar_multiply
  end interface
  interface operator(/)
     module procedure scalar_divide
  end interface
  interface operator(**)
     module procedure scalar_power, int_scalar_power
  end interface

  interface sum
     module procedure sum_array, sum_all_array, sum_pad_array
  end interface
  interface mean
     module procedure mean_array, mean_all_array
  end interface
  interface exp
     module procedure exp_array
  end interface
  interface log
     module procedure log_array
  end interface
  interface log10
     module procedure log10_array
  end interface
  interface sqrt
     module procedure sqrt_array
  end interface
  interface abs
     module procedure abs_array
  end interface
  interface sigmoid
     module procedure sigmoid_array
  end interface
  interface gaussian
     module procedure gaussian_array
  end interface
  interface sign
     module procedure sign_array
  end interface
  interface sin
     module procedure sin_array
  end interface
  interface cos
     module procedure cos_array
  end interface
  interface tan
     module procedure tan_array
  end interface
  interface tanh
     module procedure tanh_array
  end interface
  interface max
     module procedure max_arrays, max_scalar
  end interface
  interface matmul
     module procedure matmul_arrays, matmul_real2d, real2d_matmul
  end interface
  interface operator(.lt.)
     module procedure lt_scalar
  end interface
  interface operator(.le.)
     module procedure le_scalar
  end interface
  interface operator(.gt.)
     module procedure gt_scalar
  end interface
  interface operator(.ge.)
     module procedure ge_scalar
  end interface
  interface maxval
     module procedure maxval_array
  end interface
  interface operator(.mmul.)
     module procedure matmul_arrays, matmul_real2d, real2d_matmul
  end interface
  interface outer_product
     module procedure outer_product_arrays
  end interface
  interface operator(.outer.)
     module procedure outer_product_arrays
  end interface
  interface dot_product
     module procedure dot_product_arrays
  end interface
  interface operator(.dot.)
     module procedure dot_product_arrays
  end interface
  interface spread
     module procedure spread_array
  end interface
  interface unspread
     module procedure unspread_array
  end interface
  interface concat
     module procedure concat_arrays
  end interface
  interface slice_left
     module procedure slice_left_array
  end interface
  interface slice_right
     module procedure slice_right_array
  end interface
  interface ltrim
     module procedure ltrim_array
  end interface
  interface rtrim
     module procedure rtrim_array
  end interface
  interface operator(.index.)
     module procedure index_array
  end interface
  interface reverse_index
     module procedure reverse_index_array
  end interface
  interface pack
     module procedure pack_mask_array, pack_indices_array
  end interface
  interface unpack
     module procedure unpack_mask_array, unpack_indices_array
  end interface
  interface reshape
     module procedure reshape_array
  end interface
  interface merge
     module procedure merge_arrays, merge_array_scalar, merge_scalar_array, merge_array_real2d
  end interface
  interface transpose
     module procedure transpose_array
  end interface

  !> Make an allocatable unallocated without freeing it (see diffstruc_cfi.c).
  interface forget_allocation
     subroutine forget_int1(a) bind(c, name='diffstruc_forget_int1')
       import :: c_int
       integer(c_int), allocatable, intent(inout) :: a(:)
     end subroutine forget_int1
     subroutine forget_int2(a) bind(c, name='diffstruc_forget_int2')
       import :: c_int
       integer(c_int), allocatable, intent(inout) :: a(:,:)
     end subroutine forget_int2
     subroutine forget_real1(a) bind(c, name='diffstruc_forget_real1')
       import :: c_float
       real(c_float), allocatable, intent(inout) :: a(:)
     end subroutine forget_real1
  end interface

  interface
     function c_strlen(s) result(n) bind(c, name='strlen')
       import :: c_ptr, c_size_t
       type(c_ptr), value :: s
       integer(c_size_t) :: n
     end function c_strlen
  end interface

contains

!===============================================================================================
! Internal helpers
!===============================================================================================

  !> The core's message for the last failure on this thread. A subroutine, not a function:
  !> gfortran 12 keeps the length of a deferred-length function result assigned to a variable
  !> in a static temporary, which races between threads.
  subroutine last_error(msg)
    character(len=:), allocatable, intent(out) :: msg
    type(c_ptr) :: p
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    p = ds_last_error()
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(len=n) :: msg)
    do i = 1, n
       msg(i:i) = chars(i)
    end do
  end subroutine last_error

  !> Stops the program with diffstruc's error format.
  subroutine fatal(where, message)
    character(len=*), intent(in) :: where, message
    if (index(message, where // ': ') == 1) then
       ! the core's message already starts with the operation's name
       write(error_unit, '(a)') ' ERROR: ' // message
    else
       write(error_unit, '(a)') ' ERROR: ' // where // ': ' // message
    end if
    error stop 1
  end subroutine fatal

  !> Records a refused argument (DS_ERR_ARGUMENT) in `o`.
  subroutine refuse(o, message)
    type(outcome), intent(inout) :: o
    character(len=*), intent(in) :: message
    o%status = 4
    o%message = message
  end subroutine refuse

  !> Records a failed core call in `o`; true if it failed.
  logical function failed(o, status)
    type(outcome), intent(inout) :: o
    integer(c_int), intent(in) :: status
    failed = status /= DS_OK
    if (failed) then
       o%status = int(status)
       call last_error(o%message)
    end if
  end function failed

  !> Ends a procedure with an optional `stat`: stores the status there, or stops with the
  !> message if the call failed and `stat` is absent.
  subroutine settle(o, where, stat)
    type(outcome), intent(in) :: o
    character(len=*), intent(in) :: where
    integer, intent(out), optional :: stat
    if (present(stat)) then
       stat = o%status
    else if (o%status /= 0) then
       call fatal(where, o%message)
    end if
  end subroutine settle

  !> Stops with the core's message if a core call failed.
  subroutine check(status, where)
    integer(c_int), intent(in) :: status
    character(len=*), intent(in) :: where
    character(len=:), allocatable :: msg
    if (status /= DS_OK) then
       call last_error(msg)
       call fatal(where, msg)
    end if
  end subroutine check

  !> Address of an object (c_loc needs a non-polymorphic target).
  function address(x) result(p)
    type(array_type), intent(in), target :: x
    type(c_ptr) :: p
    p = c_loc(x)
  end function address

  !> True if `x` is the object that owns its handle (not a compiler copy of it).
  logical function is_owner(x)
    class(array_type), intent(in) :: x
    is_owner = c_associated(x%ds)
    if (is_owner) is_owner = c_associated(x%self, address(x))
  end function is_owner

  !> The flags of an object as core bits.
  integer(c_int32_t) function flag_bits(x)
    class(array_type), intent(in) :: x
    flag_bits = 0
    if (x%requires_grad) flag_bits = ior(flag_bits, BIT_REQUIRES_GRAD)
    if (x%is_sample_dependent) flag_bits = ior(flag_bits, BIT_SAMPLE_DEPENDENT)
    if (x%is_scalar) flag_bits = ior(flag_bits, BIT_SCALAR)
    if (x%is_forward) flag_bits = ior(flag_bits, BIT_FORWARD)
    if (x%is_temporary) flag_bits = ior(flag_bits, BIT_TEMPORARY)
    if (x%fix_pointer) flag_bits = ior(flag_bits, BIT_FIXED)
  end function flag_bits

  !> The handle of an operand, after copying its user-settable flags to the core (the
  !> components are the source of truth: programs assign them directly).
  recursive function operand(x, where) result(h)
    class(array_type), intent(in), target :: x
    character(len=*), intent(in) :: where
    type(c_ptr) :: h
    if (.not. c_associated(x%ds)) call fatal(where, 'operand is not allocated')
    if (c_associated(x%self) .and. .not. c_associated(x%self, address(x))) call unshare(x)
    call sync_custom(x)
    h = x%ds
    call check(ds_array_set_flags(h, USER_BITS, flag_bits(x)), where)
    call check(ds_array_set_id(h, int(x%id, c_int64_t)), where)
    if (x%requires_grad .and. .not. associated(x%grad)) call ensure_grad(x)
  end function operand

  !> `x` is a compiler-made shallow copy of the object at `x%self` (a parenthesised operand):
  !> detach the allocatable components it shares with the original, so that freeing the copy's
  !> components after the call leaves the original intact. (`mask` has no interoperable type;
  !> operation results never have one allocated.)
  subroutine unshare(x)
    class(array_type), intent(in), target :: x
    type(array_type), pointer :: copy, original
    copy => x
    call c_f_pointer(x%self, original)
    if (allocated(copy%shape) .and. allocated(original%shape)) then
       if (same_memory(c_loc(copy%shape), c_loc(original%shape))) &
            call forget_allocation(copy%shape)
    end if
    if (allocated(copy%indices) .and. allocated(original%indices)) then
       if (same_memory(c_loc(copy%indices), c_loc(original%indices))) &
            call forget_allocation(copy%indices)
    end if
    if (allocated(copy%adj_ja) .and. allocated(original%adj_ja)) then
       if (same_memory(c_loc(copy%adj_ja), c_loc(original%adj_ja))) &
            call forget_allocation(copy%adj_ja)
    end if
    if (allocated(copy%direction) .and. allocated(original%direction)) then
       if (same_memory(c_loc(copy%direction), c_loc(original%direction))) &
            call forget_allocation(copy%direction)
    end if
  end subroutine unshare

  logical function same_memory(a, b)
    type(c_ptr), intent(in) :: a, b
    same_memory = c_associated(a, b)
  end function same_memory

  !> Gives a variable (a leaf, or a `fix_pointer` node) its `grad` object, whose values alias the
  !> core's gradient buffer, so that reverse mode results are visible in `x%grad%val`.
  subroutine ensure_grad(x)
    class(array_type), intent(in), target :: x
    type(array_type), pointer :: p
    integer(c_size_t) :: n
    if (.not. is_owner(x)) return
    call check(ds_array_num_inputs(x%ds, n), 'grad')
    if (n /= 0 .and. .not. x%fix_pointer) return
    ! `x` is intent(in) in the operators that get here; its grad pointer is a cache of core state,
    ! so it is filled in through a pointer to the same object.
    p => x
    call attach_grad(p)
  end subroutine ensure_grad

  !> Associates `this%grad` with an object sharing the core's gradient (created as zeros).
  subroutine attach_grad(this)
    type(array_type), intent(inout) :: this
    type(c_ptr) :: data, g
    call check(ds_array_grad_data(this%ds, data), 'grad')
    call check(ds_array_grad(this%ds, g), 'grad')
    this%grad => wrap(g, heap=.false.)
    this%own_grad = .true.
    this%owns_gradient = .true.
    if (.not. c_associated(data)) call fatal('grad', 'no gradient buffer')
  end subroutine attach_grad

  !> Points `x%val` at the core's values and reads shape, flags and operation name.
  subroutine pull(x)
    type(array_type), intent(inout) :: x
    integer(c_int64_t) :: e, s, shp(32)
    integer(c_size_t) :: r, n
    type(c_ptr) :: p
    integer(c_int32_t) :: bits
    integer(c_int64_t) :: id
    character(kind=c_char) :: name(33)
    integer :: i
    call check(ds_array_extents(x%ds, e, s), 'array_type')
    call check(ds_array_data(x%ds, p), 'array_type')
    call c_f_pointer(p, x%val, [e, s])
    call check(ds_array_shape(x%ds, shp, size(shp, kind=c_size_t), r), 'array_type')
    x%shape = int(shp(1:r))
    x%size = int(e)
    x%rank = 1
    x%allocated = .true.
    call check(ds_array_flags(x%ds, bits), 'array_type')
    x%requires_grad = iand(bits, BIT_REQUIRES_GRAD) /= 0
    x%is_sample_dependent = iand(bits, BIT_SAMPLE_DEPENDENT) /= 0
    x%is_scalar = iand(bits, BIT_SCALAR) /= 0
    x%is_forward = iand(bits, BIT_FORWARD) /= 0
    call check(ds_array_id(x%ds, id), 'array_type')
    x%id = int(id)
    x%operation = ''
    if (ds_array_operation(x%ds, name, size(name, kind=c_size_t), n) == DS_OK) then
       do i = 1, int(n)
          x%operation(i:i) = name(i)
       end do
    end if
  end subroutine pull

  !> A new result object holding core handle `h`.
  function wrap(h, heap) result(c)
    type(c_ptr), intent(in) :: h
    logical, intent(in), optional :: heap
    type(array_type), pointer :: c
    allocate(c)
    c%ds = h
    c%self = c_loc(c)
    c%heap = .true.
    if (present(heap)) c%heap = heap
    call pull(c)
  end function wrap

  !> diffstruc's ownership rule: a temporary result consumed by an operation belongs to the
  !> consumer. The consumer's core node adopts the object (a compiler copy of it stands for the
  !> original, whose address it carries) and releases it when the node is released.
  subroutine adopt(c, x, owned)
    type(array_type), intent(in) :: c
    class(array_type), intent(in) :: x
    logical, intent(out) :: owned
    logical(c_bool) :: adopted
    owned = .false.
    if (.not. (x%is_temporary .and. x%heap .and. c_associated(x%self))) return
    call check(ds_array_adopt(c%ds, x%ds, x%self, c_funloc(release_object), adopted), 'adopt')
    owned = adopted
  end subroutine adopt

  !> Records the operands of a new result, diffstruc style, and adopts temporary operands.
  subroutine link(c, a, b)
    type(array_type), pointer, intent(inout) :: c
    class(array_type), intent(in), target :: a
    class(array_type), intent(in), target, optional :: b
    logical :: owned
    call adopt(c, a, owned)
    if (c%requires_grad .and. a%requires_grad) then
       c%left_operand => a
       c%owns_left_operand = a%is_temporary
    end if
    if (present(b)) then
       call adopt(c, b, owned)
       if (c%requires_grad .and. b%requires_grad) then
          c%right_operand => b
          c%owns_right_operand = b%is_temporary
       end if
    end if
  end subroutine link

  !> Destructor the core calls for an adopted result object.
  recursive subroutine release_object(object) bind(c)
    type(c_ptr), value :: object
    type(array_type), pointer :: p
    call c_f_pointer(object, p)
    call release(p)
    deallocate(p)
  end subroutine release_object

  !> Releases what an object owns: its handle (only the owning object, never a compiler copy)
  !> and its gradient object. Safe to call any number of times.
  recursive subroutine release(this)
    type(array_type), intent(inout), target :: this
    integer(c_int) :: status
    type(array_type), pointer :: g
    if (c_associated(this%ds)) then
       if (c_associated(this%self, c_loc(this))) then
          call sync_custom(this)
          ! the gradient object this module attached, or one the program allocated itself
          ! (`allocate(f%grad)`), which diffstruc's owns_gradient says belongs to this object
          if (associated(this%grad) .and. (this%own_grad .or. this%owns_gradient)) then
             g => this%grad
             this%grad => null()
             call release(g)
             deallocate(g)
          end if
          status = ds_array_free(this%ds)
       end if
    end if
    this%ds = c_null_ptr
    this%self = c_null_ptr
    this%own_grad = .false.
    this%val => null()
    this%grad => null()
    this%allocated = .false.
    this%size = 0
  end subroutine release

  !> Finaliser: harmless when a compiler calls it too often (copies never free) or never (the
  !> core then keeps the array until the process ends). Two gfortran 12 defects shape it: a
  !> scalar final procedure is passed the array descriptor instead of the object (so this one is
  !> elemental), and the `get_partial_left/right` procedure pointers of a function result are
  !> "finalised" as if they were array_type components, at the pointer's value, usually null
  !> (so a null object is ignored).
  recursive impure elemental subroutine finalise_array(this)
    type(array_type), intent(inout) :: this
    ! volatile: the optimiser must not assume that a dummy argument's address is non-null
    type(c_ptr), volatile :: self
    self = address(this)
    if (.not. c_associated(self)) return
    call release(this)
  end subroutine finalise_array

  !> Operation helpers: look up operands, run the core operation, wrap and link the result.
  function unary_op(op, a, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_unary(op, operand(a, where), h), where)
    c => wrap(h)
    call link(c, a)
  end function unary_op

  function binary_op(op, a, b, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a, b
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_binary(op, operand(a, where), operand(b, where), h), where)
    c => wrap(h)
    call link(c, a, b)
  end function binary_op

  function array_scalar_op(op, a, x, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: x
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_binary_scalar(op, operand(a, where), real(x, c_float), h), where)
    c => wrap(h)
    call link(c, a)
  end function array_scalar_op

  function scalar_array_op(op, x, a, where) result(c)
    integer(c_int32_t), intent(in) :: op
    real(real32), intent(in) :: x
    class(array_type), intent(in), target :: a
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_scalar_binary(op, real(x, c_float), operand(a, where), h), where)
    c => wrap(h)
    call link(c, a)
  end function scalar_array_op

  function array_real1d_op(op, a, v, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a
    real(real32), dimension(:), intent(in) :: v
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_binary_real1d(op, operand(a, where), v, size(v, kind=c_size_t), h), where)
    c => wrap(h)
    call link(c, a)
  end function array_real1d_op

  function array_real2d_op(op, a, m, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a
    real(real32), dimension(:,:), intent(in) :: m
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_binary_real2d(op, operand(a, where), m, size(m, 1, kind=c_size_t), &
         size(m, 2, kind=c_size_t), h), where)
    c => wrap(h)
    call link(c, a)
  end function array_real2d_op

  function reduce_op(a, dim, mean, where) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in), optional :: dim
    logical, intent(in) :: mean
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    if (present(dim)) then
       if (mean) then
          call check(ds_mean(operand(a, where), int(dim, c_int32_t), h), where)
       else
          call check(ds_sum(operand(a, where), int(dim, c_int32_t), h), where)
       end if
    else if (mean) then
       call check(ds_mean_all(operand(a, where), h), where)
    else
       call check(ds_sum_all(operand(a, where), h), where)
    end if
    c => wrap(h)
    call link(c, a)
  end function reduce_op

  !> Live core arrays in the process (an extension for tests and leak checks).
  integer function diffstruc_live_arrays()
    diffstruc_live_arrays = int(ds_live_arrays())
  end function diffstruc_live_arrays

!===============================================================================================
! Lifecycle
!===============================================================================================

  !> A fresh object with every default of diffstruc (no storage).
  function constructor() result(this)
    type(array_type) :: this
    this%id = -1
  end function constructor

  !> Allocates values: `array_shape` = per-sample shape followed by the batch size; `source` a
  !> real scalar (fill), a real rank-2 array (copied, (E, S)) or an array_type (copied).
  subroutine allocate_array(this, array_shape, source, stat)
    class(array_type), intent(inout), target :: this
    integer, dimension(:), intent(in), optional :: array_shape
    class(*), dimension(..), intent(in), optional :: source
    !> Extension: if present, receives 0 or a DS_ERR_* status instead of stopping on an error.
    integer, intent(out), optional :: stat
    type(outcome) :: o
    call allocate_values(this, o, array_shape, source)
    call settle(o, 'allocate', stat)
  end subroutine allocate_array

  subroutine allocate_values(this, o, array_shape, source)
    type(outcome), intent(inout) :: o
    class(array_type), intent(inout), target :: this
    integer, dimension(:), intent(in), optional :: array_shape
    class(*), dimension(..), intent(in), optional :: source
    integer(c_int64_t), allocatable :: shp(:)
    type(c_ptr) :: h
    integer :: n

    if (this%allocated .or. c_associated(this%ds)) then
       call refuse(o, 'Trying to allocate already allocated array values')
       return
    end if
    if (present(array_shape)) then
       n = size(array_shape)
       if (n < 1) then
          call refuse(o, 'array_shape must hold at least the batch size')
          return
       end if
       shp = int(array_shape(1:n-1), c_int64_t)
    end if
    h = c_null_ptr
    if (present(source)) then
       select rank (source)
       rank (0)
          select type (source)
          type is (real(real32))
             if (.not. present(array_shape)) then
                call refuse(o, 'Source shape not provided')
                return
             end if
             if (failed(o, ds_array_full(shp, size(shp, kind=c_size_t), &
                  int(array_shape(n), c_int64_t), real(source, c_float), h))) return
          class is (array_type)
             if (present(array_shape)) then
                if (any(array_shape /= shape(source%val))) then
                   call refuse(o, 'Source shape does not match array shape')
                   return
                end if
             end if
             call this%assign(source)
             return
          class default
             call refuse(o, 'Incompatible source type for rank 0')
             return
          end select
       rank (2)
          select type (source)
          type is (real(real32))
             if (present(array_shape)) then
                if (size(array_shape) /= 2) then
                   call refuse(o, 'Source shape does not match array shape')
                   return
                else if (any(array_shape /= shape(source))) then
                   call refuse(o, 'Source shape does not match array shape')
                   return
                end if
             end if
             shp = [int(size(source, 1), c_int64_t)]
             if (failed(o, ds_array_from_data(shp, 1_c_size_t, int(size(source, 2), c_int64_t), &
                  reshape(real(source, c_float), [size(source)]), &
                  size(source, kind=c_size_t), h))) return
          class default
             call refuse(o, 'Incompatible source type for rank 2')
             return
          end select
       rank default
          call refuse(o, 'Unrecognised source rank')
          return
       end select
    else if (present(array_shape)) then
       if (failed(o, ds_array_create(shp, size(shp, kind=c_size_t), &
            int(array_shape(n), c_int64_t), h))) return
    else
       call refuse(o, 'No shape or source provided')
       return
    end if
    call take_handle(this, h)
  end subroutine allocate_values

  !> Makes `this` the owner of a fresh handle, keeping its user-set flags.
  subroutine take_handle(this, h)
    class(array_type), intent(inout), target :: this
    type(c_ptr), intent(in) :: h
    integer(c_int64_t) :: e, s, shp(32)
    integer(c_size_t) :: r
    type(c_ptr) :: p
    this%ds = h
    this%self = address(this)
    call check(ds_array_set_flags(h, USER_BITS, flag_bits(this)), 'allocate')
    call check(ds_array_extents(h, e, s), 'allocate')
    call check(ds_array_data(h, p), 'allocate')
    call c_f_pointer(p, this%val, [e, s])
    call check(ds_array_shape(h, shp, size(shp, kind=c_size_t), r), 'allocate')
    this%shape = int(shp(1:r))
    this%size = int(e)
    this%rank = 1
    this%allocated = .true.
    if (this%requires_grad) call attach_grad_if_leaf(this)
  end subroutine take_handle

  subroutine attach_grad_if_leaf(this)
    class(array_type), intent(inout), target :: this
    type(array_type), pointer :: p
    integer(c_size_t) :: n
    if (associated(this%grad) .or. .not. is_owner(this)) return
    call check(ds_array_num_inputs(this%ds, n), 'grad')
    if (n /= 0 .and. .not. this%fix_pointer) return
    p => this
    call attach_grad(p)
  end subroutine attach_grad_if_leaf

  !> Releases this object's storage. The core keeps the array alive while a graph uses it.
  subroutine deallocate_array(this, keep_shape)
    class(array_type), intent(inout), target :: this
    logical, intent(in), optional :: keep_shape
    logical :: keep
    type(array_type), pointer :: p
    keep = .false.
    if (present(keep_shape)) keep = keep_shape
    p => this
    call release(p)
    if (allocated(this%indices)) deallocate(this%indices)
    if (allocated(this%adj_ja)) deallocate(this%adj_ja)
    if (allocated(this%mask)) deallocate(this%mask)
    if (allocated(this%direction)) deallocate(this%direction)
    if (.not. keep .and. allocated(this%shape)) deallocate(this%shape)
  end subroutine deallocate_array

  !> The values of the first sample, in storage order.
  pure function flatten_array(this) result(output)
    class(array_type), intent(in) :: this
    real(real32), dimension(this%size) :: output
    output = this%val(1:this%size, 1)
  end function flatten_array

  !> Value assignment: `this` refers to the same core array as `input` (values, graph and
  !> gradient are shared, not copied). As in diffstruc, the object on the right is not taken
  !> over: a result object assigned from (`v = x*y`) stays allocated until the program
  !> deallocates it (`assign_and_deallocate_source` does both at once).
  recursive subroutine assign_array(this, input)
    class(array_type), intent(inout), target :: this
    type(array_type), intent(in), target :: input
    type(c_ptr) :: h
    type(array_type), pointer :: p

    h = c_null_ptr
    if (c_associated(input%ds)) call check(ds_array_share(input%ds, h), 'assignment(=)')
    p => this
    call release(p)
    call copy_fields(this, input)
    this%is_temporary = .true.
    this%fix_pointer = .false.
    if (allocated(this%direction)) deallocate(this%direction)
    if (c_associated(h)) then
       call take_handle(this, h)
       call copy_fields(this, input)
       if (associated(input%grad) .and. .not. associated(this%grad)) then
          p => this
          call attach_grad(p)
       end if
    end if
  end subroutine assign_array

  !> Copies diffstruc's value-assignment fields (not the handle, not the gradient object).
  subroutine copy_fields(this, input)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in), target :: input
    this%id = input%id
    this%rank = input%rank
    this%size = input%size
    this%is_sample_dependent = input%is_sample_dependent
    this%is_forward = input%is_forward
    this%is_scalar = input%is_scalar
    this%allocated = input%allocated
    this%requires_grad = input%requires_grad
    this%operation = input%operation
    this%owns_gradient = input%owns_gradient
    this%owns_left_operand = input%owns_left_operand
    this%owns_right_operand = input%owns_right_operand
    if (allocated(input%shape)) this%shape = input%shape
    if (allocated(input%indices)) this%indices = input%indices
    if (allocated(input%adj_ja)) this%adj_ja = input%adj_ja
    if (allocated(input%mask)) this%mask = input%mask
    this%left_operand => input%left_operand
    this%right_operand => input%right_operand
    this%get_partial_left => input%get_partial_left
    this%get_partial_right => input%get_partial_right
    this%get_partial_left_val => input%get_partial_left_val
    this%get_partial_right_val => input%get_partial_right_val
  end subroutine copy_fields

  !> Like `=` but keeps `this` where `source` has nothing, copies `is_temporary`, and does not
  !> claim the gradient (`owns_gradient = .false.`).
  subroutine assign_shallow(this, source)
    class(array_type), intent(inout) :: this
    class(array_type), intent(in), target :: source
    logical :: temporary
    temporary = source%is_temporary
    select type (source)
    type is (array_type)
       call this%assign(source)
    class default
       call fatal('assign_shallow', 'source must be of type array_type')
    end select
    this%is_temporary = temporary
    this%owns_gradient = .false.
  end subroutine assign_shallow

  !> `this = source`, then the source object is released and `source` disassociated.
  subroutine assign_and_deallocate_source(this, source, owns_left_operand, owns_right_operand)
    class(array_type), intent(inout) :: this
    type(array_type), pointer, intent(inout) :: source
    logical, intent(in), optional :: owns_left_operand, owns_right_operand
    if (.not. associated(source)) call fatal('assign_and_deallocate_source', 'source is null')
    if (present(owns_left_operand)) source%owns_left_operand = owns_left_operand
    if (present(owns_right_operand)) source%owns_right_operand = owns_right_operand
    call this%assign(source)
    call release(source)
    deallocate(source)
    source => null()
  end subroutine assign_and_deallocate_source

  !> Copies host values into `val`: rank 1 fills the first sample, rank 2 is `(E, S)`, ranks
  !> 3 to 5 are the per-sample shape plus the batch.
  pure subroutine set_array(this, input)
    class(array_type), intent(inout) :: this
    real(real32), dimension(..), intent(in) :: input
    if (.not. associated(this%val)) error stop 'set: the array is not allocated'
    select rank (input)
    rank (1)
       if (size(input) /= size(this%val, 1)) &
            error stop 'set: rank-1 input length differs from the elements per sample'
       this%val(:, 1) = input
    rank (2)
       if (any(shape(input) /= shape(this%val))) &
            error stop 'set: rank-2 input shape differs from (elements, batch)'
       this%val = input
    rank (3)
       if (size(input) /= size(this%val)) error stop 'set: input size differs from the array size'
       this%val = reshape(input, shape(this%val))
    rank (4)
       if (size(input) /= size(this%val)) error stop 'set: input size differs from the array size'
       this%val = reshape(input, shape(this%val))
    rank (5)
       if (size(input) /= size(this%val)) error stop 'set: input size differs from the array size'
       this%val = reshape(input, shape(this%val))
    rank default
       error stop 'set: input rank must be 1 to 5'
    end select
  end subroutine set_array

  !> Copies `val` out into a host array of rank 1 to 5 (per-sample shape plus batch).
  subroutine extract_array(this, output)
    class(array_type), intent(in) :: this
    real(real32), dimension(..), allocatable, intent(out) :: output
    integer :: s, r
    integer, allocatable :: dims(:)
    if (.not. associated(this%val)) then
       write(error_unit, '(a)') ' WARNING: Trying to extract from unallocated array'
       return
    end if
    s = size(this%val, 2)
    r = rank(output)
    if (r >= 3) then
       if (size(this%shape) < r - 1) then
          write(error_unit, '(a,i0,a,i0,a)') ' ERROR: extract: output rank ', r, &
               ' needs at least ', r - 1, ' per-sample dimensions'
          return
       end if
       dims = [this%shape(1:r-2), product(this%shape(r-1:)), s]
    end if
    select rank (output)
    rank (1)
       allocate(output(size(this%val)))
       output = reshape(this%val, [size(this%val)])
    rank (2)
       allocate(output(size(this%val, 1), size(this%val, 2)))
       output = this%val
    rank (3)
       allocate(output(dims(1), dims(2), dims(3)))
       output = reshape(this%val, shape(output))
    rank (4)
       allocate(output(dims(1), dims(2), dims(3), dims(4)))
       output = reshape(this%val, shape(output))
    rank (5)
       allocate(output(dims(1), dims(2), dims(3), dims(4), dims(5)))
       output = reshape(this%val, shape(output))
    rank default
       write(*, *) 'Error: Unable to extract array with rank greater than 5'
       return
    end select
    if (r /= size(this%shape) + 1) write(error_unit, '(a,i0)') &
         ' WARNING: Output data rank mismatch, expected rank ', size(this%shape) + 1
  end subroutine extract_array

!===============================================================================================
! Differentiation control
!===============================================================================================

  !> Sets `requires_grad`; a variable then gets its `grad` (zeros until reverse mode runs).
  subroutine set_requires_grad(this, requires_grad)
    class(array_type), intent(inout), target :: this
    logical, intent(in) :: requires_grad
    this%requires_grad = requires_grad
    if (c_associated(this%ds)) then
       call check(ds_array_set_flags(this%ds, USER_BITS, flag_bits(this)), 'set_requires_grad')
       if (requires_grad) call attach_grad_if_leaf(this)
    end if
  end subroutine set_requires_grad

  !> Forward-mode seed: one value per element, shared by every sample.
  subroutine set_direction(this, direction, stat)
    class(array_type), intent(inout) :: this
    real(real32), dimension(:), intent(in) :: direction
    !> Extension: if present, receives 0 or a DS_ERR_* status instead of stopping on an error.
    integer, intent(out), optional :: stat
    type(outcome) :: o
    if (.not. associated(this%val)) then
       call refuse(o, 'the array is not allocated')
    else if (size(direction) /= size(this%val, 1)) then
       call refuse(o, 'Direction size does not match array size in set_direction')
       o%status = 3
    else if (.not. failed(o, ds_array_set_direction(this%ds, real(direction, c_float), &
         size(direction, kind=c_size_t)))) then
       this%direction = direction
    end if
    call settle(o, 'set_direction', stat)
  end subroutine set_direction

  !> Forward mode: the derivative of `this` along `variable`'s direction (ones if none), as a
  !> new differentiable graph. With `stat` (an extension), an error returns a null pointer
  !> and a DS_ERR_* status instead of stopping.
  function grad_forward(this, variable, stat) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: variable
    integer, intent(out), optional :: stat
    type(array_type), pointer :: output
    type(outcome) :: o
    type(c_ptr) :: h
    output => null()
    call forward_pass(this, variable, o, h)
    call settle(o, 'grad_forward', stat)
    if (o%status /= 0) return
    this%requires_grad = .true.
    output => wrap(h)
    output%is_forward = .true.
  end function grad_forward

  subroutine forward_pass(this, variable, o, h)
    class(array_type), intent(inout) :: this
    type(array_type), intent(in) :: variable
    type(outcome), intent(inout) :: o
    type(c_ptr), intent(out) :: h
    h = c_null_ptr
    if (.not. c_associated(this%ds)) then
       call refuse(o, 'the array is not allocated')
       return
    end if
    if (.not. c_associated(variable%ds)) then
       call refuse(o, 'the variable is not allocated')
       return
    end if
    if (.not. variable%requires_grad) then
       call refuse(o, 'Variable does not require grad in forward mode')
       o%status = 5
       return
    end if
    if (failed(o, ds_array_set_flags(variable%ds, USER_BITS, flag_bits(variable)))) return
    if (allocated(variable%direction)) then
       if (failed(o, ds_array_set_direction(variable%ds, real(variable%direction, c_float), &
            size(variable%direction, kind=c_size_t)))) return
    else
       if (failed(o, ds_array_clear_direction(variable%ds))) return
    end if
    if (failed(o, ds_grad_forward(operand(this, 'grad_forward'), variable%ds, h))) return
  end subroutine forward_pass

  !> Reverse mode: accumulates into the `grad` of every variable `this` depends on. The seed is
  !> `this%grad%val` if `this` has a gradient, ones otherwise. With `stat` (an extension), an
  !> error returns a DS_ERR_* status instead of stopping.
  subroutine grad_reverse(this, reset_graph, stat)
    class(array_type), intent(inout), target :: this
    logical, intent(in), optional :: reset_graph
    integer, intent(out), optional :: stat
    type(outcome) :: o
    call reverse_pass(this, reset_graph, o)
    call settle(o, 'grad_reverse', stat)
  end subroutine grad_reverse

  subroutine reverse_pass(this, reset_graph, o)
    class(array_type), intent(inout), target :: this
    logical, intent(in), optional :: reset_graph
    type(outcome), intent(inout) :: o
    type(c_ptr) :: h
    type(array_type), pointer :: p
    if (.not. c_associated(this%ds)) then
       call refuse(o, 'the array is not allocated')
       return
    end if
    h = operand(this, 'grad_reverse')
    if (present(reset_graph)) then
       if (reset_graph) then
          if (failed(o, ds_zero_all_grads(h))) return
          if (associated(this%grad)) this%grad%val = 1.0_real32
       end if
    end if
    if (.not. associated(this%grad)) then
       p => this
       call attach_grad(p)
       this%grad%val = 1.0_real32
    end if
    if (failed(o, ds_grad_reverse(h, c_loc(this%grad%val), &
         size(this%grad%val, kind=c_size_t)))) return
  end subroutine reverse_pass

  !> Sets this array's gradient to zero.
  subroutine zero_grad(this)
    class(array_type), intent(inout) :: this
    if (c_associated(this%ds)) call check(ds_zero_grad(this%ds), 'zero_grad')
  end subroutine zero_grad

  !> Sets every gradient in the graph under this array to zero (including this one's: a
  !> following `grad_reverse` without `reset_graph` then has a zero seed, as in diffstruc).
  subroutine zero_all_grads(this)
    class(array_type), intent(inout) :: this
    if (c_associated(this%ds)) call check(ds_zero_all_grads(this%ds), 'zero_all_grads')
  end subroutine zero_all_grads

  !> Zeroes every gradient in the graph and drops this array's seed, so that the next
  !> `grad_reverse` starts from fresh gradients.
  subroutine reset_graph(this)
    class(array_type), intent(inout) :: this
    if (.not. c_associated(this%ds)) return
    call check(ds_zero_all_grads(this%ds), 'reset_graph')
    if (associated(this%grad)) this%grad%val = 1.0_real32
  end subroutine reset_graph

  !> Drops this array's links to the arrays it was computed from (values and gradient stay);
  !> results it took over are released. Safe to repeat; `ignore_ownership` has no effect.
  subroutine nullify_graph(this, ignore_ownership)
    class(array_type), intent(inout), target :: this
    logical, intent(in), optional :: ignore_ownership
    if (present(ignore_ownership)) continue
    if (c_associated(this%ds)) then
       call sync_custom(this)
       call check(ds_nullify_graph(this%ds), 'nullify_graph')
    end if
    this%left_operand => null()
    this%right_operand => null()
    this%owns_left_operand = .false.
    this%owns_right_operand = .false.
    this%get_partial_left => null()
    this%get_partial_right => null()
    this%get_partial_left_val => null()
    this%get_partial_right_val => null()
  end subroutine nullify_graph

  !> Prints the operand tree in diffstruc's format.
  subroutine print_graph(this, print_location)
    class(array_type), intent(in) :: this
    logical, intent(in), optional :: print_location
    logical(c_bool) :: loc
    integer(c_size_t) :: n
    integer(c_int) :: status
    character(kind=c_char), allocatable :: buf(:)
    character(kind=c_char) :: probe(1)
    integer :: i, start
    loc = .true.
    if (present(print_location)) loc = print_location
    if (.not. c_associated(this%ds)) call fatal('print_graph', 'the array is not allocated')
    call sync_custom(this)
    status = ds_graph_print(this%ds, loc, probe, 1_c_size_t, n)
    allocate(buf(n + 1))
    call check(ds_graph_print(this%ds, loc, buf, n + 1, n), 'print_graph')
    print *, '--- Computation Graph Tree ---'
    start = 1
    do i = 1, int(n)
       if (buf(i) == achar(10)) then
          call print_line(start, i - 1)
          start = i + 1
       end if
    end do
    call print_line(start, int(n))
    print *, '--- End Graph ---'
  contains
    subroutine print_line(first, last)
      integer, intent(in) :: first, last
      character(len=last - first + 1) :: line
      integer :: k
      do k = first, last
         line(k - first + 1:k - first + 1) = buf(k)
      end do
      write(*, *) line
    end subroutine print_line
  end subroutine print_graph

!===============================================================================================
! Arithmetic operators
!===============================================================================================

  function add_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_op(DS_ADD, a, b, 'operator(+)')
  end function add_arrays

  function add_real2d(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), dimension(:,:), intent(in) :: b
    type(array_type), pointer :: c
    c => array_real2d_op(DS_ADD, a, b, 'operator(+)')
  end function add_real2d

  function add_real1d(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), dimension(:), intent(in) :: b
    type(array_type), pointer :: c
    c => array_real1d_op(DS_ADD, a, b, 'operator(+)')
  end function add_real1d

  function add_scalar(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: b
    type(array_type), pointer :: c
    c => array_scalar_op(DS_ADD, a, b, 'operator(+)')
  end function add_scalar

  function real2d_add(a, b) result(c)
    real(real32), dimension(:,:), intent(in) :: a
    class(array_type), intent(in), target :: b
    type(array_type), pointer :: c
    c => array_real2d_op(DS_ADD, b, a, 'operator(+)')
  end function real2d_add

  function real1d_add(a, b) result(c)
    real(real32), dimension(:), intent(in) :: a
    class(array_type), intent(in), target :: b
    type(array_type), pointer :: c
    c => array_real1d_op(DS_ADD, b, a, 'operator(+)')
  end function real1d_add

  function scalar_add(a, b) result(c)
    real(real32), intent(in) :: a
    class(array_type), intent(in), target :: b
    type(array_type), pointer :: c
    c => scalar_array_op(DS_ADD, a, b, 'operator(+)')
  end function scalar_add

  function subtract_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_op(DS_SUB, a, b, 'operator(-)')
  end function subtract_arrays

  function subtract_real2d(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), dimension(:,:), intent(in) :: b
    type(array_type), pointer :: c
    c => array_real2d_op(DS_SUB, a, b, 'operator(-)')
  end function subtract_real2d

  !> `a - b` with `b` one value per sample (length = batch size), as in diffstruc.
  function subtract_real1d(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), dimension(:), intent(in) :: b
    type(array_type), pointer :: c
    c => array_real1d_op(DS_SUB, a, b, 'operator(-)')
  end function subtract_real1d

  function subtract_scalar(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: b
    type(array_type), pointer :: c
    c => array_scalar_op(DS_SUB, a, b, 'operator(-)')
  end function subtract_scalar

  function scalar_subtract(a, b) result(c)
    real(real32), intent(in) :: a
    class(array_type), intent(in), target :: b
    type(array_type), pointer :: c
    c => scalar_array_op(DS_SUB, a, b, 'operator(-)')
  end function scalar_subtract

  function negate_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_NEG, a, 'operator(-)')
  end function negate_array

  function multiply_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_op(DS_MUL, a, b, 'operator(*)')
  end function multiply_arrays

  function multiply_real2d(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), dimension(:,:), intent(in) :: b
    type(array_type), pointer :: c
    c => array_real2d_op(DS_MUL, a, b, 'operator(*)')
  end function multiply_real2d

  function real2d_multiply(a, b) result(c)
    real(real32), dimension(:,:), intent(in) :: a
    class(array_type), intent(in), target :: b
    type(array_type), pointer :: c
    c => array_real2d_op(DS_MUL, b, a, 'operator(*)')
  end function real2d_multiply

  function multiply_scalar(a, scalar) result(c)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: scalar
    type(array_type), pointer :: c
    c => array_scalar_op(DS_MUL, a, scalar, 'operator(*)')
  end function multiply_scalar

  function scalar_multiply(scalar, a) result(c)
    real(real32), intent(in) :: scalar
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_MUL, scalar, a, 'operator(*)')
  end function scalar_multiply

  function divide_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_op(DS_DIV, a, b, 'operator(/)')
  end function divide_arrays

  function divide_scalar(a, scalar) result(c)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: scalar
    type(array_type), pointer :: c
    c => array_scalar_op(DS_DIV, a, scalar, 'operator(/)')
  end function divide_scalar

  !> `a / b` with `b` one value per sample (length = batch size), as in diffstruc.
  function divide_real1d(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), dimension(:), intent(in) :: b
    type(array_type), pointer :: c
    c => array_real1d_op(DS_DIV, a, b, 'operator(/)')
  end function divide_real1d

  function scalar_divide(scalar, a) result(c)
    real(real32), intent(in) :: scalar
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_DIV, scalar, a, 'operator(/)')
  end function scalar_divide

  function power_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_op(DS_POW, a, b, 'operator(**)')
  end function power_arrays

  function power_real_scalar(a, scalar) result(c)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: scalar
    type(array_type), pointer :: c
    c => array_scalar_op(DS_POW, a, scalar, 'operator(**)')
  end function power_real_scalar

  function power_int_scalar(a, scalar) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: scalar
    type(array_type), pointer :: c
    c => array_scalar_op(DS_POW, a, real(scalar, real32), 'operator(**)')
  end function power_int_scalar

  function scalar_power(scalar, a) result(c)
    real(real32), intent(in) :: scalar
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_POW, scalar, a, 'operator(**)')
  end function scalar_power

  function int_scalar_power(scalar, a) result(c)
    integer, intent(in) :: scalar
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_POW, real(scalar, real32), a, 'operator(**)')
  end function int_scalar_power

!===============================================================================================
! Element-wise maths and reductions
!===============================================================================================

  function exp_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_EXP, a, 'exp')
  end function exp_array

  function log_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_LOG, a, 'log')
  end function log_array

  function log10_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_LOG10, a, 'log10')
  end function log10_array

  function sqrt_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_SQRT, a, 'sqrt')
  end function sqrt_array

  function abs_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_ABS, a, 'abs')
  end function abs_array

  function sigmoid_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_SIGMOID, a, 'sigmoid')
  end function sigmoid_array

  function sin_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_SIN, a, 'sin')
  end function sin_array

  function cos_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_COS, a, 'cos')
  end function cos_array

  function tan_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_TAN, a, 'tan')
  end function tan_array

  function tanh_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_TANH, a, 'tanh')
  end function tanh_array

  function gaussian_array(a, mu, sigma) result(c)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: mu, sigma
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_gaussian(operand(a, 'gaussian'), real(mu, c_float), real(sigma, c_float), h), &
         'gaussian')
    c => wrap(h)
    call link(c, a)
  end function gaussian_array

  !> `sign(scalar, a%val)`: plain values, not differentiable.
  function sign_array(scalar, array) result(output)
    real(real32), intent(in) :: scalar
    class(array_type), intent(in) :: array
    real(real32), dimension(:,:), allocatable :: output
    if (.not. associated(array%val)) call fatal('sign', 'the array is not allocated')
    output = sign(scalar, array%val)
  end function sign_array

  function max_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_op(DS_MAX, a, b, 'max')
  end function max_arrays

  function max_scalar(a, scalar) result(c)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: scalar
    type(array_type), pointer :: c
    c => array_scalar_op(DS_MAX, a, scalar, 'max')
  end function max_scalar

  function sum_array(a, dim) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: dim
    type(array_type), pointer :: c
    c => reduce_op(a, dim, .false., 'sum')
  end function sum_array

  function sum_all_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => reduce_op(a, mean=.false., where='sum')
  end function sum_all_array

  function mean_array(a, dim) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: dim
    type(array_type), pointer :: c
    c => reduce_op(a, dim, .true., 'mean')
  end function mean_array

  function mean_all_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => reduce_op(a, mean=.true., where='mean')
  end function mean_all_array


!===============================================================================================
! Linear algebra
!===============================================================================================

  !> Per-sample product; a rank-2 operand is a matrix, a rank-1 left operand a row and a rank-1
  !> right operand a column; an operand with one sample is shared by the batch.
  function matmul_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_call(ds_matmul, a, b, 'matmul')
  end function matmul_arrays

  !> Each sample of `a`, read as a flat vector, times the real matrix `b`; result `[size(b,2)]`.
  function matmul_real2d(a, b) result(c)
    class(array_type), intent(in), target :: a
    real(real32), dimension(:,:), intent(in) :: b
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_matmul_real2d(operand(a, 'matmul'), b, size(b, 1, kind=c_size_t), &
         size(b, 2, kind=c_size_t), h), 'matmul')
    c => wrap(h)
    call link(c, a)
  end function matmul_real2d

  !> The real matrix `a` times each sample of `b`, read as a flat vector; result `[size(a,1)]`.
  function real2d_matmul(a, b) result(c)
    real(real32), dimension(:,:), intent(in) :: a
    class(array_type), intent(in), target :: b
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_real2d_matmul(a, size(a, 1, kind=c_size_t), size(a, 2, kind=c_size_t), &
         operand(b, 'matmul'), h), 'matmul')
    c => wrap(h)
    call link(c, b)
  end function real2d_matmul

  function dot_product_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_call(ds_dot_product, a, b, 'dot_product')
  end function dot_product_arrays

  function outer_product_arrays(a, b) result(c)
    class(array_type), intent(in), target :: a, b
    type(array_type), pointer :: c
    c => binary_call(ds_outer_product, a, b, 'outer_product')
  end function outer_product_arrays

  function transpose_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_transpose(operand(a, 'transpose'), h), 'transpose')
    c => wrap(h)
    call link(c, a)
  end function transpose_array

  !> Runs a two-array core function (`fn(a, b, out)`), wraps and links the result.
  function binary_call(fn, a, b, where) result(c)
    interface
       function fn(a, b, out) result(s) bind(c)
         import :: c_ptr, c_int
         type(c_ptr), value :: a, b
         type(c_ptr), intent(out) :: out
         integer(c_int) :: s
       end function fn
    end interface
    class(array_type), intent(in), target :: a, b
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(fn(operand(a, where), operand(b, where), h), where)
    c => wrap(h)
    call link(c, a, b)
  end function binary_call


!===============================================================================================
! Masks and comparisons
!===============================================================================================

  !> `a * mask`: `a` where `mask` (shape `(E, S)`) is true, 0 elsewhere (`multiply_logical`);
  !> the mask is kept in `c%mask`. Differentiable in both modes (a product by a 0/1 constant).
  function multiply_logical(a, b) result(c)
    class(array_type), intent(in), target :: a
    logical, dimension(:,:), intent(in) :: b
    type(array_type), pointer :: c
    c => array_real2d_op(DS_MUL, a, merge(1.0_real32, 0.0_real32, b), 'operator(*)')
    call check(ds_array_set_operation(c%ds, 'multiply_logical' // c_null_char), 'operator(*)')
    c%operation = 'multiply_logical'
    c%mask = b
  end function multiply_logical

  !> Comparisons of the values with a real scalar: plain logical `(E, S)` arrays, no graph.
  function lt_scalar(a, b) result(mask)
    class(array_type), intent(in) :: a
    real(real32), intent(in) :: b
    logical, dimension(:,:), allocatable :: mask
    mask = values_of(a, '.lt.') < b
  end function lt_scalar

  function le_scalar(a, b) result(mask)
    class(array_type), intent(in) :: a
    real(real32), intent(in) :: b
    logical, dimension(:,:), allocatable :: mask
    mask = values_of(a, '.le.') <= b
  end function le_scalar

  function gt_scalar(a, b) result(mask)
    class(array_type), intent(in) :: a
    real(real32), intent(in) :: b
    logical, dimension(:,:), allocatable :: mask
    mask = values_of(a, '.gt.') > b
  end function gt_scalar

  function ge_scalar(a, b) result(mask)
    class(array_type), intent(in) :: a
    real(real32), intent(in) :: b
    logical, dimension(:,:), allocatable :: mask
    mask = values_of(a, '.ge.') >= b
  end function ge_scalar

  !> `maxval(a, dim)`: plain values, not differentiable. `dim = 1`: the largest element of each
  !> sample (length S); `dim = 2`: the largest value of each element over the batch (length E).
  function maxval_array(a, dim) result(output)
    class(array_type), intent(in) :: a
    integer, intent(in) :: dim
    real(real32), dimension(:), allocatable :: output
    if (dim /= 1 .and. dim /= 2) call fatal('maxval', 'dim must be 1 (elements) or 2 (batch)')
    output = maxval(values_of(a, 'maxval'), dim=dim)
  end function maxval_array

  !> The values of an allocated array (stops with a message otherwise).
  function values_of(a, where) result(v)
    class(array_type), intent(in) :: a
    character(len=*), intent(in) :: where
    real(real32), dimension(:,:), pointer :: v
    if (.not. associated(a%val)) call fatal(where, 'the array is not allocated')
    v => a%val
  end function values_of

!===============================================================================================
! Data movement and selection (`dim` is a storage dimension: 1 elements, 2 batch)
!===============================================================================================

  !> Wraps the handle of a new result and links it to its operand(s).
  function linked(h, a, b) result(c)
    type(c_ptr), intent(in) :: h
    class(array_type), intent(in), target :: a
    class(array_type), intent(in), target, optional :: b
    type(array_type), pointer :: c
    c => wrap(h)
    call link(c, a, b)
  end function linked

  !> diffstruc's `adj_ja` metadata: one column.
  pure function column(values) result(m)
    integer, dimension(:), intent(in) :: values
    integer, dimension(size(values), 1) :: m
    m(:, 1) = values
  end function column

  !> `sum(a, dim, new_dim_index, new_dim_size)`: the sum along `dim` placed at position
  !> `new_dim_index` of a new dimension of size `new_dim_size`, zeros elsewhere.
  function sum_pad_array(a, dim, new_dim_index, new_dim_size) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: dim, new_dim_index, new_dim_size
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_sum_pad(operand(a, 'sum'), int(dim, c_int32_t), &
         int(new_dim_index, c_int64_t), int(new_dim_size, c_int64_t), h), 'sum')
    c => linked(h, a)
    c%indices = [dim, new_dim_index]
  end function sum_pad_array

  !> `ncopies` copies of element `index` of each sample (`dim = 1`, shape `[ncopies]`) or of
  !> sample `index` (`dim = 2`, batch `ncopies`).
  function spread_array(source, dim, index, ncopies) result(c)
    class(array_type), intent(in), target :: source
    integer, intent(in) :: dim, index, ncopies
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_spread(operand(source, 'spread'), int(dim, c_int32_t), &
         int(index, c_int64_t), int(ncopies, c_int64_t), h), 'spread')
    c => linked(h, source)
    c%indices = [index]
    if (dim == 1 .or. dim == 2) c%adj_ja = column([dim, size(source%val, dim)])
  end function spread_array

  !> The adjoint of `spread`: zeros of size `new_size` along `dim` except position `index`,
  !> which holds the sum along `dim`.
  function unspread_array(source, index, dim, new_size) result(c)
    class(array_type), intent(in), target :: source
    integer, intent(in) :: index, dim, new_size
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_unspread(operand(source, 'unspread'), int(index, c_int64_t), &
         int(dim, c_int32_t), int(new_size, c_int64_t), h), 'unspread')
    c => linked(h, source)
    c%indices = [index]
    c%adj_ja = column([dim, new_size])
  end function unspread_array

  !> `a` then `b`: along the last per-sample dimension (`dim = 1`, the default) or the batch.
  function concat_arrays(a, b, dim) result(c)
    class(array_type), intent(in), target :: a, b
    integer, intent(in), optional :: dim
    type(array_type), pointer :: c
    type(c_ptr) :: h
    integer :: d
    d = 1
    if (present(dim)) d = dim
    call check(ds_concat(operand(a, 'concat'), operand(b, 'concat'), int(d, c_int32_t), h), &
         'concat')
    c => linked(h, a, b)
    c%indices = [d]
  end function concat_arrays

  !> The four slices: `kind` is a DS_SLICE_* / DS_*TRIM code.
  function slice_op(kind, a, b, dim, where) result(c)
    integer(c_int32_t), intent(in) :: kind
    class(array_type), intent(in), target :: a
    integer, intent(in) :: b
    integer, intent(in), optional :: dim
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    integer :: d
    d = 1
    if (present(dim)) d = dim
    call check(ds_slice(kind, operand(a, where), int(b, c_int64_t), int(d, c_int32_t), h), where)
    c => linked(h, a)
    c%indices = [d, size(c%val, d)]
  end function slice_op

  !> The first `b` elements of each sample (`dim = 1`, the default) or the first `b` samples.
  function slice_left_array(a, b, dim) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: b
    integer, intent(in), optional :: dim
    type(array_type), pointer :: c
    c => slice_op(DS_SLICE_LEFT, a, b, dim, 'slice_left')
  end function slice_left_array

  !> The last `b` elements of each sample (`dim = 1`, the default) or the last `b` samples.
  function slice_right_array(a, b, dim) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: b
    integer, intent(in), optional :: dim
    type(array_type), pointer :: c
    c => slice_op(DS_SLICE_RIGHT, a, b, dim, 'slice_right')
  end function slice_right_array

  !> All but the first `b` along `dim` (default 1).
  function ltrim_array(a, b, dim) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: b
    integer, intent(in), optional :: dim
    type(array_type), pointer :: c
    c => slice_op(DS_LTRIM, a, b, dim, 'ltrim')
  end function ltrim_array

  !> All but the last `b` along `dim` (default 1).
  function rtrim_array(a, b, dim) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: b
    integer, intent(in), optional :: dim
    type(array_type), pointer :: c
    c => slice_op(DS_RTRIM, a, b, dim, 'rtrim')
  end function rtrim_array

  !> `a .index. indices`: sample `s` of the result is sample `indices(s)` of `a`.
  function index_array(a, indices) result(c)
    class(array_type), intent(in), target :: a
    integer, dimension(:), intent(in) :: indices
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_index(operand(a, '.index.'), int(indices, c_int64_t), &
         size(indices, kind=c_size_t), h), '.index.')
    c => linked(h, a)
    c%indices = indices
  end function index_array

  !> `new_index_size` zero samples; `from`: sample `s` = sample `indices(s)` of `a`; otherwise
  !> sample `indices(s)` = sample `s` of `a`.
  function reverse_index_array(a, indices, from, new_index_size) result(c)
    class(array_type), intent(in), target :: a
    integer, dimension(:), intent(in) :: indices
    logical, intent(in) :: from
    integer, intent(in) :: new_index_size
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_reverse_index(operand(a, 'reverse_index'), int(indices, c_int64_t), &
         size(indices, kind=c_size_t), logical(from, c_bool), int(new_index_size, c_int64_t), &
         h), 'reverse_index')
    c => linked(h, a)
    c%indices = indices
  end function reverse_index_array

  !> `pack(a, dim, mask)`: the elements (`dim = 1`) or samples (`dim = 2`) where `mask` is true;
  !> without `mask`, a copy.
  function pack_mask_array(a, dim, mask) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: dim
    logical, dimension(:), intent(in), optional :: mask
    type(array_type), pointer :: c
    type(c_ptr) :: h, p
    logical(c_bool), allocatable, target :: m(:)
    integer :: i
    p = c_null_ptr
    if (present(mask)) then
       allocate(m(max(1, size(mask))))
       m(1:size(mask)) = logical(mask, c_bool)
       p = c_loc(m)
       call check(ds_pack_mask(operand(a, 'pack'), int(dim, c_int32_t), p, &
            size(mask, kind=c_size_t), h), 'pack')
    c => linked(h, a)
       c%indices = pack([(i, i = 1, size(mask))], mask)
    else
       call check(ds_pack_mask(operand(a, 'pack'), int(dim, c_int32_t), p, 0_c_size_t, h), 'pack')
       c => linked(h, a)
    end if
    c%adj_ja = column([dim, a%shape, size(a%val, 2)])
  end function pack_mask_array

  !> `pack(a, indices, dim)`: elements (`dim = 1`) or samples (`dim = 2`) `indices`, in order.
  function pack_indices_array(a, indices, dim) result(c)
    class(array_type), intent(in), target :: a
    integer, dimension(:), intent(in) :: indices
    integer, intent(in) :: dim
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_pack_indices(operand(a, 'pack'), int(indices, c_int64_t), &
         size(indices, kind=c_size_t), int(dim, c_int32_t), h), 'pack')
    c => linked(h, a)
    c%indices = indices
    c%adj_ja = column([dim, size(a%val, dim)])
  end function pack_indices_array

  !> `unpack(a, array_shape, dim, indices)`: zeros of `array_shape` (per-sample shape and batch)
  !> with position `indices(i)` along `dim` (default 1) set from position `i` of `a` (without
  !> `indices`, the first positions).
  function unpack_mask_array(a, array_shape, dim, indices) result(c)
    class(array_type), intent(in), target :: a
    integer, dimension(:), intent(in) :: array_shape
    integer, intent(in), optional :: dim
    integer, dimension(:), intent(in), optional :: indices
    type(array_type), pointer :: c
    type(c_ptr) :: h, p
    integer(c_int64_t), allocatable, target :: idx(:)
    integer(c_size_t) :: n
    integer :: d
    d = 1
    if (present(dim)) d = dim
    p = c_null_ptr
    n = 0
    if (present(indices)) then
       allocate(idx(max(1, size(indices))))
       idx(1:size(indices)) = int(indices, c_int64_t)
       p = c_loc(idx)
       n = size(indices, kind=c_size_t)
    end if
    call check(ds_unpack_mask(operand(a, 'unpack'), int(array_shape, c_int64_t), &
         size(array_shape, kind=c_size_t), int(d, c_int32_t), p, n, h), 'unpack')
    c => linked(h, a)
    if (present(indices)) c%indices = indices
    c%adj_ja = column([d])
  end function unpack_mask_array

  !> `unpack(a, indices, dim, new_size)`: size `new_size` along `dim` with position
  !> `indices(i)` set from position `i` of `a`, zeros elsewhere.
  function unpack_indices_array(a, indices, dim, new_size) result(c)
    class(array_type), intent(in), target :: a
    integer, dimension(:), intent(in) :: indices
    integer, intent(in) :: dim, new_size
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_unpack_indices(operand(a, 'unpack'), int(indices, c_int64_t), &
         size(indices, kind=c_size_t), int(dim, c_int32_t), int(new_size, c_int64_t), h), &
         'unpack')
    c => linked(h, a)
    c%indices = indices
    c%adj_ja = column([dim, new_size])
  end function unpack_indices_array

  !> The same values with per-sample shape `new_shape` (same number of elements).
  function reshape_array(a, new_shape) result(c)
    class(array_type), intent(in), target :: a
    integer, dimension(:), intent(in) :: new_shape
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_reshape(operand(a, 'reshape'), int(new_shape, c_int64_t), &
         size(new_shape, kind=c_size_t), h), 'reshape')
    c => linked(h, a)
    if (allocated(a%shape)) c%indices = a%shape
  end function reshape_array

  !> `tsource` where `mask` (shape `(E, S)`) is true, `fsource` elsewhere; shape `[E]`.
  function merge_arrays(tsource, fsource, mask) result(c)
    class(array_type), intent(in), target :: tsource, fsource
    logical, dimension(:,:), intent(in) :: mask
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_merge(operand(tsource, 'merge'), operand(fsource, 'merge'), &
         logical(mask, c_bool), size(mask, kind=c_size_t), h), 'merge')
    c => linked(h, tsource, fsource)
  end function merge_arrays

  function merge_array_scalar(tsource, fsource, mask) result(c)
    class(array_type), intent(in), target :: tsource
    real(real32), intent(in) :: fsource
    logical, dimension(:,:), intent(in) :: mask
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_merge_scalar(operand(tsource, 'merge'), real(fsource, c_float), &
         logical(mask, c_bool), size(mask, kind=c_size_t), h), 'merge')
    c => linked(h, tsource)
  end function merge_array_scalar

  function merge_scalar_array(tsource, fsource, mask) result(c)
    real(real32), intent(in) :: tsource
    class(array_type), intent(in), target :: fsource
    logical, dimension(:,:), intent(in) :: mask
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_scalar_merge(real(tsource, c_float), operand(fsource, 'merge'), &
         logical(mask, c_bool), size(mask, kind=c_size_t), h), 'merge')
    c => linked(h, fsource)
  end function merge_scalar_array

  function merge_array_real2d(tsource, fsource, mask) result(c)
    class(array_type), intent(in), target :: tsource
    real(real32), dimension(:,:), intent(in) :: fsource
    logical, dimension(:,:), intent(in) :: mask
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_merge_real2d(operand(tsource, 'merge'), real(fsource, c_float), &
         size(fsource, 1, kind=c_size_t), size(fsource, 2, kind=c_size_t), &
         logical(mask, c_bool), size(mask, kind=c_size_t), h), 'merge')
    c => linked(h, tsource)
  end function merge_array_real2d

!===============================================================================================
! Graph utilities
!===============================================================================================

  !> A deep copy of the graph under this array (values, flags, `id` tags and gradients copied;
  !> `fix_pointer` arrays are referred to, not copied), as a new result.
  function duplicate_graph(this) result(output)
    class(array_type), intent(inout) :: this
    type(array_type), pointer :: output
    type(c_ptr) :: h
    call check(ds_duplicate_graph(operand(this, 'duplicate_graph'), h), 'duplicate_graph')
    output => wrap(h)
  end function duplicate_graph

  !> Forgets how this array was computed: it keeps its values and gradient, and no longer
  !> requires a gradient (`operation = 'none'`, no operands).
  subroutine detach(this)
    class(array_type), intent(inout), target :: this
    if (c_associated(this%ds)) then
       call sync_custom(this)
       call check(ds_detach(this%ds), 'detach')
    end if
    this%requires_grad = .false.
    this%is_forward = .false.
    this%operation = 'none'
    this%left_operand => null()
    this%right_operand => null()
    this%owns_left_operand = .false.
    this%owns_right_operand = .false.
  end subroutine detach

  !> The first array, in pre-order from this one (an array, then its left operand's graph, then
  !> its right operand's), whose `id` is `id`; unassociated if there is none. The object
  !> returned belongs to this array's graph (it is released with it; deallocating it as well is
  !> harmless).
  recursive function get_ptr_from_id(this, id) result(output)
    class(array_type), intent(in), target :: this
    integer, intent(in) :: id
    type(array_type), pointer :: output
    type(c_ptr) :: h, root
    logical(c_bool) :: adopted
    output => null()
    root = operand(this, 'get_ptr_from_id')
    call check(ds_graph_find_id(root, int(id, c_int64_t), h), 'get_ptr_from_id')
    if (.not. c_associated(h)) return
    call check(ds_array_same(root, h, adopted), 'get_ptr_from_id')
    if (adopted) then
       ! this array itself
       call check(ds_array_free(h), 'get_ptr_from_id')
       output => this
       return
    end if
    output => wrap(h)
    if (output%requires_grad) call attach_grad_if_leaf(output)
    call check(ds_array_adopt(root, h, output%self, c_funloc(release_object), adopted), &
         'get_ptr_from_id')
  end function get_ptr_from_id

!===============================================================================================
! Custom operations (diffstruc's pattern: create_result, fill val, set the get_partial_*
! procedure pointers and the operands)
!===============================================================================================

  !> A new result of `array_shape` (per-sample shape followed by the batch size; default: this
  !> array's shape and batch), inheriting `is_scalar`, `is_sample_dependent` and `is_forward`.
  !> Its values are zeros.
  function create_result(this, array_shape) result(c)
    class(array_type), intent(in) :: this
    integer, dimension(:), intent(in), optional :: array_shape
    type(array_type), pointer :: c
    integer(c_int64_t), allocatable :: shp(:)
    integer(c_int64_t) :: batch
    type(c_ptr) :: h
    integer :: n
    if (present(array_shape)) then
       n = size(array_shape)
       if (n < 1) call fatal('create_result', 'array_shape must hold at least the batch size')
       shp = int(array_shape(1:n-1), c_int64_t)
       batch = int(array_shape(n), c_int64_t)
    else
       if (.not. associated(this%val)) call fatal('create_result', 'the array is not allocated')
       if (allocated(this%shape)) then
          shp = int(this%shape, c_int64_t)
       else
          shp = [int(size(this%val, 1), c_int64_t)]
       end if
       batch = int(size(this%val, 2), c_int64_t)
    end if
    call check(ds_array_create(shp, size(shp, kind=c_size_t), batch, h), 'create_result')
    c => wrap(h)
    c%is_scalar = this%is_scalar
    c%is_sample_dependent = this%is_sample_dependent
    c%is_forward = this%is_forward
    call check(ds_array_set_flags(h, USER_BITS, flag_bits(c)), 'create_result')
  end function create_result

  !> True if user code gave `x` derivative rules (built-in results never have them).
  logical function has_rules(x)
    class(array_type), intent(in) :: x
    has_rules = associated(x%get_partial_left) .or. associated(x%get_partial_right) .or. &
         associated(x%get_partial_left_val) .or. associated(x%get_partial_right_val)
  end function has_rules

  !> Registers a custom result with the core, once: its operands become the node's inputs and
  !> its rules are called back by the core's differentiation passes. Operands the result owns
  !> (`owns_*_operand`) that are results of this module, or constants (no gradient), are
  !> released with the result, as diffstruc does.
  recursive subroutine sync_custom(x)
    class(array_type), intent(in), target :: x
    character(len=*), parameter :: where = 'custom operation'
    type(custom_rules), pointer :: r
    type(ds_custom_rules) :: rules
    type(c_ptr) :: hs(2), op
    integer(c_size_t) :: n
    if (.not. c_associated(x%ds) .or. .not. has_rules(x)) return
    if (.not. (associated(x%left_operand) .or. associated(x%right_operand))) return
    call check(ds_array_num_inputs(x%ds, n), where)
    if (n /= 0) return
    allocate(r)
    r%left => x%get_partial_left
    r%right => x%get_partial_right
    r%left_val => x%get_partial_left_val
    r%right_val => x%get_partial_right_val
    r%operation = x%operation
    if (allocated(x%indices)) r%indices = x%indices
    if (allocated(x%adj_ja)) r%adj_ja = x%adj_ja
    if (allocated(x%mask)) r%mask = x%mask
    ! The operands' handles are taken as they are and the node is linked first; only then are
    ! the operands themselves prepared (flags, their own custom links), so that a cycle made
    ! by hand (an operand that is, or leads back to, this result) ends the recursion here.
    n = 0
    if (associated(x%left_operand)) then
       r%has_left = .true.
       n = n + 1
       hs(n) = raw_operand(x%left_operand)
    end if
    if (associated(x%right_operand)) then
       r%has_right = .true.
       n = n + 1
       hs(n) = raw_operand(x%right_operand)
    end if
    ! without any rule of a kind, the core reports that mode as unavailable
    rules = ds_custom_rules(c_loc(r), c_null_funptr, c_null_funptr, c_funloc(custom_destroy))
    if (associated(r%left) .or. associated(r%right)) rules%jvp = c_funloc(custom_jvp)
    if (associated(r%left_val) .or. associated(r%right_val)) rules%vjp = c_funloc(custom_vjp)
    call check(ds_custom_op_create(trim(x%operation) // c_null_char, rules, op), where)
    call check(ds_array_set_custom(x%ds, op, hs, n), where)
    call check(ds_custom_op_free(op), where)
    if (associated(x%left_operand)) hs(1) = operand(x%left_operand, where)
    if (associated(x%right_operand)) hs(n) = operand(x%right_operand, where)
    if (associated(x%left_operand) .and. x%owns_left_operand) &
         call adopt_owned(x, x%left_operand)
    if (associated(x%right_operand) .and. x%owns_right_operand) &
         call adopt_owned(x, x%right_operand)
  end subroutine sync_custom

  !> An operand's handle with its flags pushed to the core, without further preparation.
  function raw_operand(x) result(h)
    class(array_type), intent(in) :: x
    type(c_ptr) :: h
    if (.not. c_associated(x%ds)) call fatal('custom operation', 'operand is not allocated')
    h = x%ds
    call check(ds_array_set_flags(h, USER_BITS, flag_bits(x)), 'custom operation')
  end function raw_operand

  !> The node of `c` releases operand object `x` with itself, if `x` is a result of this module
  !> or a constant (an object the program allocated for the node: no gradient).
  subroutine adopt_owned(c, x)
    class(array_type), intent(in) :: c
    class(array_type), intent(in), target :: x
    logical(c_bool) :: adopted
    if (.not. is_owner(x)) return
    if (.not. (x%heap .or. .not. x%requires_grad)) return
    call check(ds_array_adopt(c%ds, x%ds, x%self, c_funloc(release_object), adopted), &
         'custom operation')
  end subroutine adopt_owned

  !> An object sharing core array `h` (released with `drop_view`).
  function view(h) result(v)
    type(c_ptr), intent(in) :: h
    type(array_type), pointer :: v
    type(c_ptr) :: s
    call check(ds_array_share(h, s), 'custom operation')
    v => wrap(s, heap=.false.)
  end function view

  !> The object a rule sees as `this`: the node with its operands and metadata.
  function node_view(r, out, inputs, n) result(this)
    type(custom_rules), intent(in) :: r
    type(c_ptr), intent(in) :: out, inputs
    integer(c_size_t), intent(in) :: n
    type(array_type), pointer :: this
    type(c_ptr), pointer :: hs(:)
    call c_f_pointer(inputs, hs, [n])
    this => view(out)
    this%operation = r%operation
    if (allocated(r%indices)) this%indices = r%indices
    if (allocated(r%adj_ja)) this%adj_ja = r%adj_ja
    if (allocated(r%mask)) this%mask = r%mask
    if (r%has_left) this%left_operand => view(hs(1))
    if (r%has_right) this%right_operand => view(hs(n))
  end function node_view

  recursive subroutine drop_view(v)
    type(array_type), pointer, intent(inout) :: v
    if (associated(v%left_operand)) call drop_view(v%left_operand)
    if (associated(v%right_operand)) call drop_view(v%right_operand)
    call release(v)
    deallocate(v)
  end subroutine drop_view

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
    type(array_type), pointer :: this, up
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
    up => view(tangent)
    call take_result(rule(this, up), contribution)
    call drop_view(up)
    call drop_view(this)
    status = DS_OK
  end function custom_jvp

  !> Takes the core array out of a rule's result (a function result object). The handle belongs
  !> to the result: either this object, or the callee's result variable, which no longer exists
  !> when the compiler returns a bitwise copy of it. Either way it is taken, not shared, so that
  !> finalising the object, or not, frees nothing.
  subroutine take_result(x, h)
    type(array_type), intent(in), target :: x
    type(c_ptr), intent(out) :: h
    type(array_type), pointer :: p
    p => x
    h = p%ds
    p%ds = c_null_ptr
    p%self = c_null_ptr
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
    type(array_type), pointer :: this
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
    call drop_view(this)
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
    deallocate(r)
  end subroutine custom_destroy

end module diffstruc
