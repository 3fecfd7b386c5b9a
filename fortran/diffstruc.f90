!> diffstruc: automatic differentiation of real32 arrays, source compatible with diffstruc 1.1.1.
!>
!> `use diffstruc` gives `type(array_type)` with diffstruc's components, type-bound procedures,
!> operators and generics. Graphs, values and gradients live in the Rust core (libdiffstruc);
!> an `array_type` object refers to one core array. How objects, copies and memory work is in
!> docs/fortran-object-model.md; in short:
!>
!>  * `val` is an allocatable, as in diffstruc. For operation results (`f => x*2`, objects this
!>    module allocates) it is the core's own buffer, handed over without a copy; for variables
!>    and components it is the object's own copy, read by the core whenever the object is used.
!>  * An object owns its core array through a binding keyed by a private allocatable token, so
!>    that copies made by the compiler or the program (`allocate(source=)`, intrinsic
!>    assignment of derived types holding array_type, function results, array assignment) are
!>    recognised as copies: they never free anything, and a copy whose values or flags differ
!>    from its original's gets a core array of its own when it is used.
!>  * A temporary result consumed by an operation or by an assignment belongs to the consumer
!>    (diffstruc's rule) and is released with it; releasing it yourself as well is harmless.
!>
!> The implementation is split by concern: this module (declarations, operations), and the
!> submodules diffstruc_objects (object model, lifecycle), diffstruc_autodiff (differentiation
!> and graph control) and diffstruc_custom (custom operations). Differences from diffstruc
!> 1.1.1 are listed in docs/differences.md.
module diffstruc
  use, intrinsic :: iso_c_binding, only: c_ptr, c_null_ptr, c_associated, c_loc, c_funloc, &
       c_null_funptr, c_f_pointer, c_int, c_int32_t, c_int64_t, c_intptr_t, c_size_t, &
       c_bool, c_float, c_double, c_char, c_null_char
  use, intrinsic :: iso_fortran_env, only: error_unit
  use diffstruc_kinds, only: real32, real64
  use diffstruc_c
  implicit none
  private

  public :: real32, real64
  public :: diffstruc__max_recursion_depth, diffstruc__init_map_cap
  public :: array_type, get_partial
  public :: operator(+), operator(-), operator(*), operator(/), operator(**)
  public :: sum, mean, exp, log, sin, cos, tan, tanh
  ! documented by diffstruc, missing from its v1.1.1
  public :: asin, acos, atan, sinh, cosh
  public :: sqrt, sign, sigmoid, gaussian, abs, log10, max
  public :: matmul, operator(.mmul.), outer_product, operator(.outer.), dot_product, &
       operator(.dot.), transpose
  public :: operator(.lt.), operator(.le.), operator(.gt.), operator(.ge.), maxval
  public :: spread, unspread, concat, slice_left, slice_right, ltrim, rtrim
  public :: operator(.index.), reverse_index, pack, unpack, reshape, merge
  public :: diffstruc_live_arrays, diffstruc_release_retired, diffstruc_graph_dot, diffstruc_write_dot
  public :: diffstruc_set_num_threads, diffstruc_get_num_threads

  !> Kept for source compatibility: the core has no recursion and no depth limit.
  integer, save :: diffstruc__max_recursion_depth = 1000
  !> Kept for source compatibility: the core needs no pointer maps.
  integer, save :: diffstruc__init_map_cap = 32

  !> Flag bits exchanged with the core (bit n-1 is DS_FLAG n); RETAIN_GRAD is the core's own.
  integer(c_int32_t), parameter :: BIT_REQUIRES_GRAD = 1, BIT_SAMPLE_DEPENDENT = 2, &
       BIT_SCALAR = 4, BIT_FORWARD = 8, BIT_TEMPORARY = 16, BIT_RETAIN_GRAD = 32, BIT_FIXED = 64
  integer(c_int32_t), parameter :: USER_BITS = BIT_REQUIRES_GRAD + BIT_SAMPLE_DEPENDENT + &
       BIT_SCALAR + BIT_FORWARD + BIT_TEMPORARY + BIT_FIXED

  !> How an array_type object refers to its core array (see diffstruc_objects): a private
  !> allocatable component, the object's *token*. The object owns the core array when the
  !> library's binding table lists the token's address (every deep copy of the object gets a
  !> new token, every move keeps it). The token, not array_type, has the final procedure:
  !> gfortran 12 miscompiles the finalisation of some types that contain a finalizable type
  !> (athena's layers), but not of types whose finalizable part is an allocatable component.
  type :: array_ref
     !> Handle of the core array.
     type(c_ptr) :: h = c_null_ptr
     !> For an object this module allocated: the object, and its registration number.
     type(c_ptr) :: object = c_null_ptr
     integer(c_int64_t) :: serial = 0
     !> While the object's `val` holds the core's buffer: the address of `val`'s descriptor.
     type(c_ptr) :: desc = c_null_ptr
     !> `val` views the core's buffer without owning it (for a derivative rule).
     logical :: alias = .false.
     !> A custom result the program allocated, of an extension type: it is deallocated through
     !> `shell` (a `shell_ref` holding a polymorphic pointer to it), or, without one, its
     !> contents are released and the object itself left to the program.
     logical :: keep_shell = .false.
     type(c_ptr) :: shell = c_null_ptr
     !> The core array holds real64 values (read once, when the token is bound to it).
     logical :: wide = .false.
   contains
     final :: release_token
  end type array_ref

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
     !> Token of the object's core array (private; before `val`: compilers finalise it while
     !> `val` is still allocated).
     type(array_ref), allocatable, private :: ref
     !> Values, shape (E, S).
     real(real32), dimension(:,:), allocatable :: val
     !> Values of a real64 array (an extension: allocated instead of `val` when the array was
     !> allocated from real64 data), shape (E, S).
     real(real64), dimension(:,:), allocatable :: val64
     integer, dimension(:), allocatable :: indices
     integer, dimension(:,:), allocatable :: adj_ja
     logical, dimension(:,:), allocatable :: mask
     logical :: requires_grad = .false.
     !> Gradient (reverse mode): an object whose `val` is the core's gradient buffer.
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
     !> Set while a custom result registers its operands (a cycle made by hand is an error).
     logical, private :: registering = .false.
     !> On a compiler's shallow copy of a result (see original_of): the original.
     type(c_ptr), private :: original = c_null_ptr
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

     procedure :: add_arrays, add_real1d, add_real2d, add_scalar, add_scalar64
     generic, public :: operator(+) => add_arrays, add_real1d, add_real2d, add_scalar, &
          add_scalar64
     procedure :: subtract_arrays, subtract_real2d, subtract_real1d, subtract_scalar, &
          negate_array, subtract_scalar64
     generic, public :: operator(-) => subtract_arrays, subtract_real2d, subtract_real1d, &
          subtract_scalar, negate_array, subtract_scalar64
     procedure :: multiply_arrays, multiply_real2d, multiply_scalar, multiply_logical, &
          multiply_scalar64
     generic, public :: operator(*) => multiply_arrays, multiply_real2d, multiply_scalar, &
          multiply_logical, multiply_scalar64
     procedure :: divide_arrays, divide_scalar, divide_real1d, divide_scalar64
     generic, public :: operator(/) => divide_arrays, divide_scalar, divide_real1d, &
          divide_scalar64
     procedure :: power_arrays, power_real_scalar, power_int_scalar, power_scalar64
     generic, public :: operator(**) => power_arrays, power_real_scalar, power_int_scalar, &
          power_scalar64

     procedure :: assign => assign_array
     generic, public :: assignment(=) => assign
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

  !> The derivative rules of one custom operation, handed to the core as the user data of its
  !> callbacks (diffstruc_custom). Freed by the core when the last array using it is released.
  type :: custom_rules
     procedure(get_partial), pointer, nopass :: left => null(), right => null()
     procedure(get_partial_val), pointer, nopass :: left_val => null(), right_val => null()
     logical :: has_left = .false., has_right = .false.
     !> (allocatable: a type with only these components makes gfortran 12 fail)
     character(len=:), allocatable :: operation
     !> For a result of an extension of array_type: a copy (without values) whose type the rules
     !> see as `this` (athena's batch normalisation reads its own components there).
     class(array_type), allocatable :: prototype
  end type custom_rules

  !> The outcome of a procedure that can report an error through an optional `stat`.
  type :: outcome
     integer :: status = 0
     character(len=:), allocatable :: message
  end type outcome


  interface array_type
     module procedure constructor
  end interface array_type

  interface operator(+)
     module procedure real2d_add, real1d_add, scalar_add, scalar64_add
  end interface
  interface operator(-)
     module procedure scalar_subtract, scalar64_subtract
  end interface
  interface operator(*)
     module procedure real2d_multiply, scalar_multiply, scalar64_multiply
  end interface
  interface operator(/)
     module procedure scalar_divide, scalar64_divide
  end interface
  interface operator(**)
     module procedure scalar_power, int_scalar_power, scalar64_power
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
  interface asin
     module procedure asin_array
  end interface
  interface acos
     module procedure acos_array
  end interface
  interface atan
     module procedure atan_array
  end interface
  interface sinh
     module procedure sinh_array
  end interface
  interface cosh
     module procedure cosh_array
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

  ! ---- procedures of the submodules -----------------------------------------------------------
  interface
     ! diffstruc_errors: error reporting
     module subroutine fatal(where, message)
       character(len=*), intent(in) :: where, message
     end subroutine fatal
     module subroutine check(status, where)
       integer(c_int), intent(in) :: status
       character(len=*), intent(in) :: where
     end subroutine check
     module subroutine refuse(o, message)
       type(outcome), intent(inout) :: o
       character(len=*), intent(in) :: message
     end subroutine refuse
     module logical function failed(o, status)
       type(outcome), intent(inout) :: o
       integer(c_int), intent(in) :: status
     end function failed
     ! diffstruc_objects: values of either kind
     !> True if `x` has values: real32 (`val`) or real64 (`val64`).
     module pure logical function has_values(x)
       class(array_type), intent(in) :: x
     end function has_values
     !> Extent `dim` (1: values per sample, 2: samples) of `x`'s values; 0 if it has none.
     module pure integer function values_extent(x, dim)
       class(array_type), intent(in) :: x
       integer, intent(in) :: dim
     end function values_extent
     !> Number of values of `x`, of either kind.
     module pure integer function values_size(x)
       class(array_type), intent(in) :: x
     end function values_size
     !> Stops with a clear message for an operation that only exists for real32 arrays.
     module subroutine require_real32(x, where)
       class(array_type), intent(in) :: x
       character(len=*), intent(in) :: where
     end subroutine require_real32
     module pure function extents_text(v) result(t)
       integer, dimension(:), intent(in) :: v
       character(len=:), allocatable :: t
     end function extents_text
     module pure function int_text(i) result(t)
       integer, intent(in) :: i
       character(len=:), allocatable :: t
     end function int_text
     module subroutine settle(o, where, stat)
       type(outcome), intent(in) :: o
       character(len=*), intent(in) :: where
       integer, intent(out), optional :: stat
     end subroutine settle

     ! diffstruc_objects: object model and lifecycle
     module function handle_of(x) result(h)
       class(array_type), intent(in) :: x
       type(c_ptr) :: h
     end function handle_of
     module recursive function operand(x, where) result(h)
       class(array_type), intent(in), target :: x
       character(len=*), intent(in) :: where
       type(c_ptr) :: h
     end function operand
     module function linked(h, a, b) result(c)
       type(c_ptr), intent(in) :: h
       class(array_type), intent(in), target :: a
       class(array_type), intent(in), target, optional :: b
       type(array_type), pointer :: c
     end function linked
     module function make_heap(h) result(c)
       type(c_ptr), intent(in) :: h
       type(array_type), pointer :: c
     end function make_heap
     module function make_view(h, prototype) result(v)
       type(c_ptr), intent(in) :: h
       class(array_type), intent(in), optional :: prototype
       class(array_type), pointer :: v
     end function make_view
     module recursive subroutine drop_object(p)
       class(array_type), pointer, intent(inout) :: p
     end subroutine drop_object
     module subroutine register_object(x)
       type(array_type), intent(inout), target :: x
     end subroutine register_object
     module subroutine adopt_temporary(owner, x, retire)
       type(c_ptr), intent(in) :: owner
       class(array_type), intent(in), target :: x
       logical, intent(in), optional :: retire
     end subroutine adopt_temporary
     module subroutine release_adopted(object) bind(c)
       type(c_ptr), value :: object
     end subroutine release_adopted
     module subroutine return_values(x)
       type(array_type), intent(inout), target :: x
     end subroutine return_values
     module subroutine adopt_constant(owner, x)
       type(c_ptr), intent(in) :: owner
       type(array_type), intent(inout), target :: x
     end subroutine adopt_constant
     module subroutine release_retired()
     end subroutine release_retired
     module pure elemental subroutine release_token(this)
       type(array_ref), intent(inout), target :: this
     end subroutine release_token
     module subroutine ensure_grad(p, h)
       type(array_type), intent(inout), target :: p
       type(c_ptr), intent(in) :: h
     end subroutine ensure_grad
     module function grad_object(h, given) result(g)
       type(c_ptr), intent(in) :: h
       type(array_type), pointer, intent(in), optional :: given
       type(array_type), pointer :: g
     end function grad_object
     module subroutine allocate_array(this, array_shape, source, stat)
       class(array_type), intent(inout), target :: this
       integer, dimension(:), intent(in), optional :: array_shape
       class(*), dimension(..), intent(in), optional :: source
       !> Extension: if present, receives 0 or a DS_ERR_* status instead of stopping on an error.
       integer, intent(out), optional :: stat
     end subroutine allocate_array
     module subroutine deallocate_array(this, keep_shape)
       class(array_type), intent(inout), target :: this
       logical, intent(in), optional :: keep_shape
     end subroutine deallocate_array
     module recursive subroutine assign_array(this, input)
       class(array_type), intent(inout), target :: this
       type(array_type), intent(in), target :: input
     end subroutine assign_array
     module subroutine assign_shallow(this, source)
       class(array_type), intent(inout), target :: this
       class(array_type), intent(in), target :: source
     end subroutine assign_shallow
     module subroutine assign_and_deallocate_source(this, source, owns_left_operand, &
          owns_right_operand)
       class(array_type), intent(inout), target :: this
       type(array_type), pointer, intent(inout) :: source
       logical, intent(in), optional :: owns_left_operand, owns_right_operand
     end subroutine assign_and_deallocate_source
     module function create_result(this, array_shape) result(c)
       class(array_type), intent(in) :: this
       integer, dimension(:), intent(in), optional :: array_shape
       type(array_type), pointer :: c
     end function create_result

     ! diffstruc_autodiff: differentiation and graph control
     module subroutine set_direction(this, direction, stat)
       class(array_type), intent(inout) :: this
       real(real32), dimension(:), intent(in) :: direction
       !> Extension: if present, receives 0 or a DS_ERR_* status instead of stopping on an error.
       integer, intent(out), optional :: stat
     end subroutine set_direction
     module function grad_forward(this, variable, stat) result(output)
       class(array_type), intent(inout), target :: this
       type(array_type), intent(in), target :: variable
       !> Extension: if present, receives 0 or a DS_ERR_* status instead of stopping on an error.
       integer, intent(out), optional :: stat
       type(array_type), pointer :: output
     end function grad_forward
     module subroutine grad_reverse(this, reset_graph, stat)
       class(array_type), intent(inout), target :: this
       logical, intent(in), optional :: reset_graph
       !> Extension: if present, receives 0 or a DS_ERR_* status instead of stopping on an error.
       integer, intent(out), optional :: stat
     end subroutine grad_reverse
     module subroutine zero_grad(this)
       class(array_type), intent(inout), target :: this
     end subroutine zero_grad
     module subroutine zero_all_grads(this)
       class(array_type), intent(inout), target :: this
     end subroutine zero_all_grads
     module subroutine reset_graph(this)
       class(array_type), intent(inout), target :: this
     end subroutine reset_graph
     module subroutine nullify_graph(this, ignore_ownership)
       class(array_type), intent(inout), target :: this
       logical, intent(in), optional :: ignore_ownership
     end subroutine nullify_graph
     module subroutine print_graph(this, print_location)
       class(array_type), intent(in), target :: this
       logical, intent(in), optional :: print_location
     end subroutine print_graph
     module function duplicate_graph(this) result(output)
       class(array_type), intent(inout), target :: this
       type(array_type), pointer :: output
     end function duplicate_graph
     module subroutine detach(this)
       class(array_type), intent(inout), target :: this
     end subroutine detach
     module function diffstruc_graph_dot(x) result(text)
       class(array_type), intent(in), target :: x
       character(len=:), allocatable :: text
     end function diffstruc_graph_dot
     module subroutine diffstruc_write_dot(x, file)
       class(array_type), intent(in), target :: x
       character(len=*), intent(in) :: file
     end subroutine diffstruc_write_dot
     module function get_ptr_from_id(this, id) result(output)
       class(array_type), intent(in), target :: this
       integer, intent(in) :: id
       type(array_type), pointer :: output
     end function get_ptr_from_id

     ! diffstruc_custom: custom operations, and the rule pointers of built-in results
     module function builtin_partial_left(this, upstream_grad) result(output)
       class(array_type), intent(inout) :: this
       type(array_type), intent(in) :: upstream_grad
       type(array_type) :: output
     end function builtin_partial_left
     module function builtin_partial_right(this, upstream_grad) result(output)
       class(array_type), intent(inout) :: this
       type(array_type), intent(in) :: upstream_grad
       type(array_type) :: output
     end function builtin_partial_right
     module pure subroutine builtin_partial_left_val(this, upstream_grad, output)
       class(array_type), intent(in) :: this
       real(real32), dimension(:,:), intent(in) :: upstream_grad
       real(real32), dimension(:,:), intent(out) :: output
     end subroutine builtin_partial_left_val
     module pure subroutine builtin_partial_right_val(this, upstream_grad, output)
       class(array_type), intent(in) :: this
       real(real32), dimension(:,:), intent(in) :: upstream_grad
       real(real32), dimension(:,:), intent(out) :: output
     end subroutine builtin_partial_right_val
     module logical function has_rules(x)
       class(array_type), intent(in) :: x
     end function has_rules
     module subroutine set_builtin_rules(c, binary)
       type(array_type), intent(inout) :: c
       logical, intent(in) :: binary
     end subroutine set_builtin_rules
     module recursive subroutine sync_custom(x, object)
       type(array_type), intent(inout), target :: x
       class(array_type), intent(in) :: object
     end subroutine sync_custom
  end interface

  !> Makes a token allocatable unallocated without freeing it (diffstruc_cfi.c: not
  !> interoperable, so an external procedure given the compiler's own descriptor, whose first
  !> word is the address of the token).
  interface
     subroutine diffstruc_forget_token(a)
       import :: array_ref
       type(array_ref), allocatable, intent(inout) :: a
     end subroutine diffstruc_forget_token
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
! Errors, and the procedures that need no core array
!===============================================================================================

  !> Releases now every operation result that a value assignment took over (`y = x*2`) and
  !> keeps for a while in case the program still uses it by name (docs/fortran-object-model.md).
  !> Call it when no such pointer is used any more, e.g. before counting live arrays. Each
  !> thread keeps its own: this releases the calling thread's (and those of threads that have
  !> exited); with OpenMP, call it on every thread that made value assignments.
  subroutine diffstruc_release_retired()
    call release_retired()
  end subroutine diffstruc_release_retired

  !> Sets how many threads matrix products and large element-wise operations may use (an
  !> extension; default 1, or the environment variable DIFFSTRUC_NUM_THREADS). Element-wise
  !> results are bit-identical whatever the setting. A number below 1 or above 1024 is an error:
  !> reported in `stat` (non-zero, message from the library) if present, else by `error stop`.
  subroutine diffstruc_set_num_threads(n, stat)
    integer, intent(in) :: n
    integer, intent(out), optional :: stat
    integer(c_int32_t) :: s
    s = ds_set_num_threads(int(max(min(n, huge(0_c_int32_t)), -1), c_int32_t))
    if (present(stat)) then
      stat = int(s)
    else
      call check(int(s, c_int), 'diffstruc_set_num_threads')
    end if
  end subroutine diffstruc_set_num_threads

  !> The number of threads the library may use (see diffstruc_set_num_threads).
  integer function diffstruc_get_num_threads()
    diffstruc_get_num_threads = int(ds_get_num_threads())
  end function diffstruc_get_num_threads

  !> Live core arrays in the process (an extension for tests and leak checks).
  integer function diffstruc_live_arrays()
    diffstruc_live_arrays = int(ds_live_arrays())
  end function diffstruc_live_arrays

  !> A fresh object with every default of diffstruc (no storage).
  function constructor() result(this)
    type(array_type) :: this
    this%id = -1
  end function constructor

  !> The values of the first sample, in storage order.
  pure function flatten_array(this) result(output)
    class(array_type), intent(in) :: this
    real(real32), dimension(this%size) :: output
    output = this%val(1:this%size, 1)
  end function flatten_array

  !> Copies host values into `val`: rank 1 fills the first sample, rank 2 is `(E, S)`, ranks
  !> 3 to 5 are the per-sample shape plus the batch.
  pure subroutine set_array(this, input)
    class(array_type), intent(inout) :: this
    real(real32), dimension(..), intent(in) :: input
    if (allocated(this%val64)) error stop 'set: a real64 array: assign its values to x%val64'
    if (.not. allocated(this%val)) error stop 'set: the array is not allocated'
    select rank (input)
    rank (1)
       if (size(input) /= values_extent(this, 1)) &
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
    call require_real32(this, 'extract')
    if (.not. allocated(this%val)) then
       write(error_unit, '(a)') ' WARNING: Trying to extract from unallocated array'
       return
    end if
    s = values_extent(this, 2)
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
       allocate(output(values_extent(this, 1), values_extent(this, 2)))
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

  !> Sets `requires_grad` (pure, as diffstruc's: the core array follows when the object is next
  !> used; a variable then gets its `grad` object).
  pure subroutine set_requires_grad(this, requires_grad)
    class(array_type), intent(inout), target :: this
    logical, intent(in) :: requires_grad
    this%requires_grad = requires_grad
    ! the owner's core array learns it now, so that a compiler's copy made from here on matches
    ! it (a copy's own change stays its own: it does not own the array)
    if (allocated(this%ref)) then
       if (c_associated(this%ref%h)) call diffstruc_push_owned_flags(c_loc(this%ref), &
            this%ref%h, BIT_REQUIRES_GRAD, merge(BIT_REQUIRES_GRAD, 0_c_int32_t, requires_grad))
    end if
  end subroutine set_requires_grad

  !> Operation helpers: look up operands, run the core operation, wrap and link the result.
  function unary_op(op, a, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_unary(op, operand(a, where), h), where)
    c => linked(h, a)
  end function unary_op

  function binary_op(op, a, b, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a, b
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_binary(op, operand(a, where), operand(b, where), h), where)
    c => linked(h, a, b)
  end function binary_op

  !> `a op x` (`x` is rounded to `a`'s kind: exact for real32 scalars).
  function array_scalar_op(op, a, x, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a
    real(c_double), intent(in) :: x
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_binary_scalar(op, operand(a, where), x, h), where)
    c => linked(h, a)
  end function array_scalar_op

  !> `x op a` (`x` is rounded to `a`'s kind).
  function scalar_array_op(op, x, a, where) result(c)
    integer(c_int32_t), intent(in) :: op
    real(c_double), intent(in) :: x
    class(array_type), intent(in), target :: a
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_scalar_binary(op, x, operand(a, where), h), where)
    c => linked(h, a)
  end function scalar_array_op

  function array_real1d_op(op, a, v, where) result(c)
    integer(c_int32_t), intent(in) :: op
    class(array_type), intent(in), target :: a
    real(real32), dimension(:), intent(in) :: v
    character(len=*), intent(in) :: where
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_binary_real1d(op, operand(a, where), v, size(v, kind=c_size_t), h), where)
    c => linked(h, a)
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
    c => linked(h, a)
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
    c => linked(h, a)
  end function reduce_op

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
    c => array_scalar_op(DS_ADD, a, real(b, c_double), 'operator(+)')
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
    c => scalar_array_op(DS_ADD, real(a, c_double), b, 'operator(+)')
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
    c => array_scalar_op(DS_SUB, a, real(b, c_double), 'operator(-)')
  end function subtract_scalar

  function scalar_subtract(a, b) result(c)
    real(real32), intent(in) :: a
    class(array_type), intent(in), target :: b
    type(array_type), pointer :: c
    c => scalar_array_op(DS_SUB, real(a, c_double), b, 'operator(-)')
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
    c => array_scalar_op(DS_MUL, a, real(scalar, c_double), 'operator(*)')
  end function multiply_scalar

  function scalar_multiply(scalar, a) result(c)
    real(real32), intent(in) :: scalar
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_MUL, real(scalar, c_double), a, 'operator(*)')
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
    c => array_scalar_op(DS_DIV, a, real(scalar, c_double), 'operator(/)')
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
    c => scalar_array_op(DS_DIV, real(scalar, c_double), a, 'operator(/)')
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
    c => array_scalar_op(DS_POW, a, real(scalar, c_double), 'operator(**)')
  end function power_real_scalar

  function power_int_scalar(a, scalar) result(c)
    class(array_type), intent(in), target :: a
    integer, intent(in) :: scalar
    type(array_type), pointer :: c
    c => array_scalar_op(DS_POW, a, real(scalar, c_double), 'operator(**)')
  end function power_int_scalar

  function scalar_power(scalar, a) result(c)
    real(real32), intent(in) :: scalar
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_POW, real(scalar, c_double), a, 'operator(**)')
  end function scalar_power

  ! ---- real64 scalars (an extension; rounded to the array's kind) ---------------------------
  function add_scalar64(a, x) result(c)
    class(array_type), intent(in), target :: a
    real(real64), intent(in) :: x
    type(array_type), pointer :: c
    c => array_scalar_op(DS_ADD, a, x, 'operator(+)')
  end function add_scalar64

  function scalar64_add(x, a) result(c)
    real(real64), intent(in) :: x
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_ADD, x, a, 'operator(+)')
  end function scalar64_add

  function subtract_scalar64(a, x) result(c)
    class(array_type), intent(in), target :: a
    real(real64), intent(in) :: x
    type(array_type), pointer :: c
    c => array_scalar_op(DS_SUB, a, x, 'operator(-)')
  end function subtract_scalar64

  function scalar64_subtract(x, a) result(c)
    real(real64), intent(in) :: x
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_SUB, x, a, 'operator(-)')
  end function scalar64_subtract

  function multiply_scalar64(a, x) result(c)
    class(array_type), intent(in), target :: a
    real(real64), intent(in) :: x
    type(array_type), pointer :: c
    c => array_scalar_op(DS_MUL, a, x, 'operator(*)')
  end function multiply_scalar64

  function scalar64_multiply(x, a) result(c)
    real(real64), intent(in) :: x
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_MUL, x, a, 'operator(*)')
  end function scalar64_multiply

  function divide_scalar64(a, x) result(c)
    class(array_type), intent(in), target :: a
    real(real64), intent(in) :: x
    type(array_type), pointer :: c
    c => array_scalar_op(DS_DIV, a, x, 'operator(/)')
  end function divide_scalar64

  function scalar64_divide(x, a) result(c)
    real(real64), intent(in) :: x
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_DIV, x, a, 'operator(/)')
  end function scalar64_divide

  function power_scalar64(a, x) result(c)
    class(array_type), intent(in), target :: a
    real(real64), intent(in) :: x
    type(array_type), pointer :: c
    c => array_scalar_op(DS_POW, a, x, 'operator(**)')
  end function power_scalar64

  function scalar64_power(x, a) result(c)
    real(real64), intent(in) :: x
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_POW, x, a, 'operator(**)')
  end function scalar64_power

  function int_scalar_power(scalar, a) result(c)
    integer, intent(in) :: scalar
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => scalar_array_op(DS_POW, real(scalar, c_double), a, 'operator(**)')
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

  function asin_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_ASIN, a, 'asin')
  end function asin_array

  function acos_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_ACOS, a, 'acos')
  end function acos_array

  function atan_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_ATAN, a, 'atan')
  end function atan_array

  function sinh_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_SINH, a, 'sinh')
  end function sinh_array

  function cosh_array(a) result(c)
    class(array_type), intent(in), target :: a
    type(array_type), pointer :: c
    c => unary_op(DS_COSH, a, 'cosh')
  end function cosh_array

  function gaussian_array(a, mu, sigma) result(c)
    class(array_type), intent(in), target :: a
    real(real32), intent(in) :: mu, sigma
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_gaussian(operand(a, 'gaussian'), real(mu, c_double), real(sigma, c_double), h), &
         'gaussian')
    c => linked(h, a)
  end function gaussian_array

  !> `sign(scalar, a%val)`: plain values, not differentiable.
  function sign_array(scalar, array) result(output)
    real(real32), intent(in) :: scalar
    class(array_type), intent(in) :: array
    real(real32), dimension(:,:), allocatable :: output
    call require_real32(array, 'sign')
    if (.not. allocated(array%val)) call fatal('sign', 'the array is not allocated')
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
    c => array_scalar_op(DS_MAX, a, real(scalar, c_double), 'max')
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
    c => linked(h, a)
  end function matmul_real2d

  !> The real matrix `a` times each sample of `b`, read as a flat vector; result `[size(a,1)]`.
  function real2d_matmul(a, b) result(c)
    real(real32), dimension(:,:), intent(in) :: a
    class(array_type), intent(in), target :: b
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_real2d_matmul(a, size(a, 1, kind=c_size_t), size(a, 2, kind=c_size_t), &
         operand(b, 'matmul'), h), 'matmul')
    c => linked(h, b)
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
    c => linked(h, a)
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
    c => linked(h, a, b)
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
    call check(ds_array_set_operation(handle_of(c), 'multiply_logical' // c_null_char), &
         'operator(*)')
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
    real(real32), dimension(:,:), allocatable :: v
    call require_real32(a, where)
    if (.not. allocated(a%val)) call fatal(where, 'the array is not allocated')
    v = a%val
  end function values_of

!===============================================================================================
! Data movement and selection (`dim` is a storage dimension: 1 elements, 2 batch)
!===============================================================================================


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
    if (dim == 1 .or. dim == 2) c%adj_ja = column([dim, values_extent(source, dim)])
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
    c%indices = [d, values_extent(c, d)]
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
    c%adj_ja = column([dim, a%shape, values_extent(a, 2)])
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
    c%adj_ja = column([dim, values_extent(a, dim)])
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
    call check(ds_merge_scalar(operand(tsource, 'merge'), real(fsource, c_double), &
         logical(mask, c_bool), size(mask, kind=c_size_t), h), 'merge')
    c => linked(h, tsource)
  end function merge_array_scalar

  function merge_scalar_array(tsource, fsource, mask) result(c)
    real(real32), intent(in) :: tsource
    class(array_type), intent(in), target :: fsource
    logical, dimension(:,:), intent(in) :: mask
    type(array_type), pointer :: c
    type(c_ptr) :: h
    call check(ds_scalar_merge(real(tsource, c_double), operand(fsource, 'merge'), &
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


end module diffstruc
