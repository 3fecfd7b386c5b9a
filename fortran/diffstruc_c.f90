!> Raw ISO_C_BINDING interfaces to the diffstruc C ABI (include/diffstruc.h).
!>
!> Internal to the `diffstruc` module: user code should `use diffstruc`. One interface per C
!> function, same names and argument order; see the header for what each function does.
module diffstruc_c
  use, intrinsic :: iso_c_binding, only: c_ptr, c_funptr, c_int, c_int32_t, c_int64_t, &
       c_size_t, c_bool, c_float, c_double, c_char
  implicit none
  private

  integer(c_int), parameter, public :: DS_OK = 0

  ! flag numbers (DS_FLAG_*) and the matching bits of ds_array_flags
  integer(c_int32_t), parameter, public :: DS_FLAG_REQUIRES_GRAD = 1, &
       DS_FLAG_SAMPLE_DEPENDENT = 2, DS_FLAG_SCALAR = 3, DS_FLAG_FORWARD = 4, &
       DS_FLAG_TEMPORARY = 5, DS_FLAG_RETAIN_GRAD = 6, DS_FLAG_FIXED = 7

  ! operation codes
  integer(c_int32_t), parameter, public :: DS_ADD = 1, DS_SUB = 2, DS_MUL = 3, DS_DIV = 4, &
       DS_POW = 5, DS_MAX = 6
  integer(c_int32_t), parameter, public :: DS_NEG = 101, DS_EXP = 102, DS_LOG = 103, &
       DS_LOG10 = 104, DS_SQRT = 105, DS_ABS = 106, DS_SIGMOID = 107, DS_SIN = 108, &
       DS_COS = 109, DS_TAN = 110, DS_TANH = 111, DS_ASIN = 112, DS_ACOS = 113, DS_ATAN = 114, &
       DS_SINH = 115, DS_COSH = 116
  integer(c_int32_t), parameter, public :: DS_SLICE_LEFT = 1, DS_SLICE_RIGHT = 2, &
       DS_LTRIM = 3, DS_RTRIM = 4

  public :: ds_last_error, ds_live_arrays, ds_live_handles, ds_set_num_threads, ds_get_num_threads
  public :: ds_array_create, ds_array_full, ds_array_from_data, ds_array_share, ds_array_copy
  public :: ds_array_free, ds_array_shape, ds_array_extents, ds_array_data, ds_array_grad_data
  public :: ds_array_grad, ds_array_flags, ds_array_set_flags, ds_array_set_direction
  public :: ds_array_clear_direction, ds_array_same, ds_array_adopt, ds_array_is_live
  public :: ds_array_claim
  public :: ds_array_operation, ds_array_set_operation, ds_array_num_inputs, ds_array_input
  public :: diffstruc_partial, diffstruc_push_owned_flags
  public :: ds_graph_print, ds_graph_dot, ds_zero_all_grads
  public :: ds_unary, ds_binary, ds_binary_scalar, ds_scalar_binary, ds_binary_real1d
  public :: ds_binary_real2d, ds_real2d_binary, ds_gaussian, ds_sign
  public :: ds_sum, ds_mean, ds_sum_all, ds_mean_all
  public :: ds_matmul, ds_matmul_real2d, ds_real2d_matmul, ds_dot_product, ds_outer_product
  public :: ds_transpose
  public :: ds_spread, ds_unspread, ds_sum_pad, ds_concat, ds_slice, ds_index, ds_reverse_index
  public :: ds_pack_mask, ds_pack_indices, ds_unpack_mask, ds_unpack_indices, ds_reshape
  public :: ds_merge, ds_merge_scalar, ds_scalar_merge, ds_merge_real2d
  public :: ds_custom_rules, ds_custom_op_create, ds_custom_op_free, ds_array_set_custom
  public :: ds_set_last_error
  public :: ds_duplicate_graph, ds_detach, ds_array_id, ds_array_set_id, ds_graph_find_id
  ! real64 arrays
  public :: DS_REAL32, DS_REAL64, ds_array_dtype, ds_array_from_data_f64, ds_array_data_f64
  public :: ds_array_grad_data_f64, ds_array_lend_f64, ds_array_sync_f64, ds_grad_reverse_f64
  public :: ds_array_set_direction_f64, ds_array_create_f64

  !> Element types (`ds_dtype`).
  integer(c_int32_t), parameter :: DS_REAL32 = 1, DS_REAL64 = 2

  !> Makes an allocatable unallocated without freeing its memory (diffstruc_cfi.c): for buffers
  !> lent by the core, and for components a compiler's shallow copy shares with the original.
  !> Pure: it changes only the descriptor given.
  interface diffstruc_forget
     pure subroutine forget_real64_2(a) bind(c, name='diffstruc_forget')
       import :: c_double
       real(c_double), allocatable, intent(inout) :: a(:,:)
     end subroutine forget_real64_2
     pure subroutine forget_real64_1(a) bind(c, name='diffstruc_forget')
       import :: c_double
       real(c_double), allocatable, intent(inout) :: a(:)
     end subroutine forget_real64_1
     pure subroutine forget_real2(a) bind(c, name='diffstruc_forget')
       import :: c_float
       real(c_float), allocatable, intent(inout) :: a(:,:)
     end subroutine forget_real2
     pure subroutine forget_real1(a) bind(c, name='diffstruc_forget')
       import :: c_float
       real(c_float), allocatable, intent(inout) :: a(:)
     end subroutine forget_real1
     pure subroutine forget_int1(a) bind(c, name='diffstruc_forget')
       import :: c_int
       integer(c_int), allocatable, intent(inout) :: a(:)
     end subroutine forget_int1
     pure subroutine forget_int2(a) bind(c, name='diffstruc_forget')
       import :: c_int
       integer(c_int), allocatable, intent(inout) :: a(:,:)
     end subroutine forget_int2
     ! default logical is not interoperable: an external procedure (passed the compiler's own
     ! descriptor, whose first word is also the base address)
     pure subroutine diffstruc_forget_logical2(a)
       logical, allocatable, intent(inout) :: a(:,:)
     end subroutine diffstruc_forget_logical2
  end interface diffstruc_forget

  !> Rules of a custom operation (`ds_custom_rules`).
  type, bind(c) :: ds_custom_rules
     type(c_ptr) :: user_data
     type(c_funptr) :: jvp, vjp, destroy
  end type ds_custom_rules
  public :: ds_grad_forward, ds_grad_reverse, ds_zero_grad, ds_nullify_graph
  public :: ds_binding_set, ds_binding_release, ds_binding_take, ds_binding_owner
  public :: ds_object_register, ds_object_unregister, ds_object_live, ds_object_quarantine
  public :: ds_object_retoken, ds_object_of_token, ds_binding_drop
  public :: ds_array_lend, ds_array_reclaim, ds_array_is_lent, ds_array_clone, ds_array_sync
  public :: ds_array_set_user_data, ds_array_user_data, ds_array_set_grad
  public :: ds_array_adopt_object, ds_object_retire, ds_object_retired_oldest
  public :: diffstruc_point_real2, diffstruc_forget, diffstruc_describe_real2
  public :: diffstruc_token_going, diffstruc_forget_at, diffstruc_find_word

  !> Points an allocated rank-2 real allocatable (a 1 x 1 allocation) at `data`, shape
  !> (rows, cols) (diffstruc_cfi.c; real32 or real64).
  interface diffstruc_point_real2
     function point_real32_2(a, data, rows, cols) result(ok) bind(c, name='diffstruc_point_real2')
       import :: c_float, c_ptr, c_int64_t, c_bool
       real(c_float), allocatable, intent(inout) :: a(:,:)
       type(c_ptr), value :: data
       integer(c_int64_t), value :: rows, cols
       logical(c_bool) :: ok
     end function point_real32_2
     function point_real64_2(a, data, rows, cols) result(ok) bind(c, name='diffstruc_point_real2')
       import :: c_double, c_ptr, c_int64_t, c_bool
       real(c_double), allocatable, intent(inout) :: a(:,:)
       type(c_ptr), value :: data
       integer(c_int64_t), value :: rows, cols
       logical(c_bool) :: ok
     end function point_real64_2
  end interface diffstruc_point_real2

  !> What a rank-2 real allocatable's descriptor says (for the module's one-time layout check).
  interface diffstruc_describe_real2
     subroutine describe_real32_2(a, base, extents) bind(c, name='diffstruc_describe_real2')
       import :: c_float, c_ptr, c_int64_t
       real(c_float), allocatable, intent(in) :: a(:,:)
       type(c_ptr), intent(out) :: base
       integer(c_int64_t), intent(out) :: extents(2)
     end subroutine describe_real32_2
     subroutine describe_real64_2(a, base, extents) bind(c, name='diffstruc_describe_real2')
       import :: c_double, c_ptr, c_int64_t
       real(c_double), allocatable, intent(in) :: a(:,:)
       type(c_ptr), intent(out) :: base
       integer(c_int64_t), intent(out) :: extents(2)
     end subroutine describe_real64_2
  end interface diffstruc_describe_real2

  interface
     function ds_last_error() result(msg) bind(c, name='ds_last_error')
       import :: c_ptr
       type(c_ptr) :: msg
     end function ds_last_error

     function ds_live_arrays() result(n) bind(c, name='ds_live_arrays')
       import :: c_size_t
       integer(c_size_t) :: n
     end function ds_live_arrays

     function ds_live_handles() result(n) bind(c, name='ds_live_handles')
       import :: c_size_t
       integer(c_size_t) :: n
     end function ds_live_handles

     function ds_set_num_threads(n) result(s) bind(c, name='ds_set_num_threads')
       import :: c_int32_t
       integer(c_int32_t), value :: n
       integer(c_int32_t) :: s
     end function ds_set_num_threads

     function ds_get_num_threads() result(n) bind(c, name='ds_get_num_threads')
       import :: c_int32_t
       integer(c_int32_t) :: n
     end function ds_get_num_threads

     ! ---- arrays ------------------------------------------------------------------------------
     function ds_array_create(shape, rank, batch, out) result(s) bind(c, name='ds_array_create')
       import :: c_int, c_int64_t, c_size_t, c_ptr
       integer(c_int64_t), intent(in) :: shape(*)
       integer(c_size_t), value :: rank
       integer(c_int64_t), value :: batch
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_create

     function ds_array_full(shape, rank, batch, val, out) result(s) bind(c, name='ds_array_full')
       import :: c_int, c_int64_t, c_size_t, c_ptr, c_float, c_double
       integer(c_int64_t), intent(in) :: shape(*)
       integer(c_size_t), value :: rank
       integer(c_int64_t), value :: batch
       real(c_double), value :: val
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_full

     function ds_array_from_data(shape, rank, batch, data, len, out) result(s) &
          bind(c, name='ds_array_from_data')
       import :: c_int, c_int64_t, c_size_t, c_ptr, c_float
       integer(c_int64_t), intent(in) :: shape(*)
       integer(c_size_t), value :: rank
       integer(c_int64_t), value :: batch
       real(c_float), intent(in) :: data(*)
       integer(c_size_t), value :: len
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_from_data

     function ds_array_share(a, out) result(s) bind(c, name='ds_array_share')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_share

     function ds_array_copy(a, out) result(s) bind(c, name='ds_array_copy')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_copy

     function ds_array_free(a) result(s) bind(c, name='ds_array_free')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       integer(c_int) :: s
     end function ds_array_free

     function ds_array_shape(a, shape, capacity, rank) result(s) bind(c, name='ds_array_shape')
       import :: c_int, c_ptr, c_int64_t, c_size_t
       type(c_ptr), value :: a
       type(c_ptr), value :: shape
       integer(c_size_t), value :: capacity
       integer(c_size_t), intent(out) :: rank
       integer(c_int) :: s
     end function ds_array_shape

     function ds_array_extents(a, elements, batch) result(s) bind(c, name='ds_array_extents')
       import :: c_int, c_ptr, c_int64_t
       type(c_ptr), value :: a
       integer(c_int64_t), intent(out) :: elements, batch
       integer(c_int) :: s
     end function ds_array_extents

     function ds_array_data(a, data) result(s) bind(c, name='ds_array_data')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: data
       integer(c_int) :: s
     end function ds_array_data

     function ds_array_grad_data(a, data) result(s) bind(c, name='ds_array_grad_data')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: data
       integer(c_int) :: s
     end function ds_array_grad_data

     function ds_array_grad(a, out) result(s) bind(c, name='ds_array_grad')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_grad

     function ds_array_flags(a, flags) result(s) bind(c, name='ds_array_flags')
       import :: c_int, c_ptr, c_int32_t
       type(c_ptr), value :: a
       integer(c_int32_t), intent(out) :: flags
       integer(c_int) :: s
     end function ds_array_flags

     function ds_array_set_flags(a, mask, values) result(s) bind(c, name='ds_array_set_flags')
       import :: c_int, c_ptr, c_int32_t
       type(c_ptr), value :: a
       integer(c_int32_t), value :: mask, values
       integer(c_int) :: s
     end function ds_array_set_flags

     function ds_array_set_direction(a, direction, len) result(s) &
          bind(c, name='ds_array_set_direction')
       import :: c_int, c_ptr, c_float, c_size_t
       type(c_ptr), value :: a
       real(c_float), intent(in) :: direction(*)
       integer(c_size_t), value :: len
       integer(c_int) :: s
     end function ds_array_set_direction

     function ds_array_clear_direction(a) result(s) bind(c, name='ds_array_clear_direction')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       integer(c_int) :: s
     end function ds_array_clear_direction

     function ds_array_same(a, b, same) result(s) bind(c, name='ds_array_same')
       import :: c_int, c_ptr, c_bool
       type(c_ptr), value :: a, b
       logical(c_bool), intent(out) :: same
       integer(c_int) :: s
     end function ds_array_same

     function ds_array_adopt(owner, obj, object, destroy, adopted) result(s) &
          bind(c, name='ds_array_adopt')
       import :: c_int, c_ptr, c_funptr, c_bool
       type(c_ptr), value :: owner, obj, object
       type(c_funptr), value :: destroy
       logical(c_bool), intent(out) :: adopted
       integer(c_int) :: s
     end function ds_array_adopt

     function ds_array_claim(a, claimed) result(s) bind(c, name='ds_array_claim')
       import :: c_int, c_ptr, c_bool
       type(c_ptr), value :: a
       logical(c_bool), intent(out) :: claimed
       integer(c_int) :: s
     end function ds_array_claim

     function ds_array_is_live(a, live) result(s) bind(c, name='ds_array_is_live')
       import :: c_int, c_ptr, c_bool
       type(c_ptr), value :: a
       logical(c_bool), intent(out) :: live
       integer(c_int) :: s
     end function ds_array_is_live

     function ds_array_operation(a, buf, cap, len) result(s) bind(c, name='ds_array_operation')
       import :: c_int, c_ptr, c_char, c_size_t
       type(c_ptr), value :: a
       character(kind=c_char), intent(out) :: buf(*)
       integer(c_size_t), value :: cap
       integer(c_size_t), intent(out) :: len
       integer(c_int) :: s
     end function ds_array_operation

     function ds_array_set_operation(a, name) result(s) bind(c, name='ds_array_set_operation')
       import :: c_int, c_ptr, c_char
       type(c_ptr), value :: a
       character(kind=c_char), intent(in) :: name(*)
       integer(c_int) :: s
     end function ds_array_set_operation

     function ds_array_num_inputs(a, n) result(s) bind(c, name='ds_array_num_inputs')
       import :: c_int, c_ptr, c_size_t
       type(c_ptr), value :: a
       integer(c_size_t), intent(out) :: n
       integer(c_int) :: s
     end function ds_array_num_inputs

     !> ds_array_partial as a pure subroutine (diffstruc_cfi.c; a pure interface may not have a
     !> function with an output argument), for the built-in `get_partial_*` rules.
     pure subroutine diffstruc_partial(a, k, upstream, n_upstream, grad, n_grad, status) &
          bind(c, name='diffstruc_partial')
       import :: c_int, c_ptr, c_size_t, c_float
       type(c_ptr), value :: a
       integer(c_size_t), value :: k, n_upstream, n_grad
       real(c_float), intent(in) :: upstream(*)
       real(c_float), intent(inout) :: grad(*)
       integer(c_int), intent(out) :: status
     end subroutine diffstruc_partial

     !> Sets flags of the array the token owns (diffstruc_cfi.c); pure, for set_requires_grad.
     pure subroutine diffstruc_push_owned_flags(token, a, mask, bits) &
          bind(c, name='diffstruc_push_owned_flags')
       import :: c_ptr, c_int32_t
       type(c_ptr), value :: token, a
       integer(c_int32_t), value :: mask, bits
     end subroutine diffstruc_push_owned_flags


     function ds_array_input(a, i, out, owned) result(s) bind(c, name='ds_array_input')
       import :: c_int, c_ptr, c_size_t, c_bool
       type(c_ptr), value :: a
       integer(c_size_t), value :: i
       type(c_ptr), intent(out) :: out
       logical(c_bool), intent(out) :: owned
       integer(c_int) :: s
     end function ds_array_input

     function ds_graph_dot(a, buf, cap, len) result(s) bind(c, name='ds_graph_dot')
       import :: c_int, c_ptr, c_size_t, c_char
       type(c_ptr), value :: a
       character(kind=c_char), dimension(*), intent(out) :: buf
       integer(c_size_t), value :: cap
       integer(c_size_t), intent(out) :: len
       integer(c_int) :: s
     end function ds_graph_dot

     function ds_graph_print(a, print_location, buf, cap, len) result(s) &
          bind(c, name='ds_graph_print')
       import :: c_int, c_ptr, c_bool, c_char, c_size_t
       type(c_ptr), value :: a
       logical(c_bool), value :: print_location
       character(kind=c_char), intent(out) :: buf(*)
       integer(c_size_t), value :: cap
       integer(c_size_t), intent(out) :: len
       integer(c_int) :: s
     end function ds_graph_print

     function ds_zero_all_grads(a) result(s) bind(c, name='ds_zero_all_grads')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       integer(c_int) :: s
     end function ds_zero_all_grads

     ! ---- operations ----------------------------------------------------------------------------
     function ds_unary(op, a, out) result(s) bind(c, name='ds_unary')
       import :: c_int, c_ptr, c_int32_t
       integer(c_int32_t), value :: op
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_unary

     function ds_binary(op, a, b, out) result(s) bind(c, name='ds_binary')
       import :: c_int, c_ptr, c_int32_t
       integer(c_int32_t), value :: op
       type(c_ptr), value :: a, b
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_binary

     function ds_binary_scalar(op, a, x, out) result(s) bind(c, name='ds_binary_scalar')
       import :: c_int, c_ptr, c_int32_t, c_float, c_double
       integer(c_int32_t), value :: op
       type(c_ptr), value :: a
       real(c_double), value :: x
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_binary_scalar

     function ds_scalar_binary(op, x, a, out) result(s) bind(c, name='ds_scalar_binary')
       import :: c_int, c_ptr, c_int32_t, c_float, c_double
       integer(c_int32_t), value :: op
       real(c_double), value :: x
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_scalar_binary

     function ds_binary_real1d(op, a, v, len, out) result(s) bind(c, name='ds_binary_real1d')
       import :: c_int, c_ptr, c_int32_t, c_float, c_size_t
       integer(c_int32_t), value :: op
       type(c_ptr), value :: a
       real(c_float), intent(in) :: v(*)
       integer(c_size_t), value :: len
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_binary_real1d

     function ds_binary_real2d(op, a, m, rows, cols, out) result(s) &
          bind(c, name='ds_binary_real2d')
       import :: c_int, c_ptr, c_int32_t, c_float, c_size_t
       integer(c_int32_t), value :: op
       type(c_ptr), value :: a
       real(c_float), intent(in) :: m(*)
       integer(c_size_t), value :: rows, cols
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_binary_real2d

     function ds_real2d_binary(op, m, rows, cols, a, out) result(s) &
          bind(c, name='ds_real2d_binary')
       import :: c_int, c_ptr, c_int32_t, c_float, c_size_t
       integer(c_int32_t), value :: op
       real(c_float), intent(in) :: m(*)
       integer(c_size_t), value :: rows, cols
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_real2d_binary

     function ds_gaussian(a, mu, sigma, out) result(s) bind(c, name='ds_gaussian')
       import :: c_int, c_ptr, c_float, c_double
       type(c_ptr), value :: a
       real(c_double), value :: mu, sigma
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_gaussian

     function ds_sign(x, a, out) result(s) bind(c, name='ds_sign')
       import :: c_int, c_ptr, c_float, c_double
       real(c_double), value :: x
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_sign

     function ds_sum(a, dim, out) result(s) bind(c, name='ds_sum')
       import :: c_int, c_ptr, c_int32_t
       type(c_ptr), value :: a
       integer(c_int32_t), value :: dim
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_sum

     function ds_mean(a, dim, out) result(s) bind(c, name='ds_mean')
       import :: c_int, c_ptr, c_int32_t
       type(c_ptr), value :: a
       integer(c_int32_t), value :: dim
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_mean

     function ds_sum_all(a, out) result(s) bind(c, name='ds_sum_all')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_sum_all

     function ds_mean_all(a, out) result(s) bind(c, name='ds_mean_all')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_mean_all

     function ds_matmul(a, b, out) result(s) bind(c, name='ds_matmul')
       import :: c_int, c_ptr
       type(c_ptr), value :: a, b
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_matmul

     function ds_matmul_real2d(a, m, rows, cols, out) result(s) bind(c, name='ds_matmul_real2d')
       import :: c_int, c_ptr, c_float, c_size_t
       type(c_ptr), value :: a
       real(c_float), intent(in) :: m(*)
       integer(c_size_t), value :: rows, cols
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_matmul_real2d

     function ds_real2d_matmul(m, rows, cols, b, out) result(s) bind(c, name='ds_real2d_matmul')
       import :: c_int, c_ptr, c_float, c_size_t
       real(c_float), intent(in) :: m(*)
       integer(c_size_t), value :: rows, cols
       type(c_ptr), value :: b
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_real2d_matmul

     function ds_dot_product(a, b, out) result(s) bind(c, name='ds_dot_product')
       import :: c_int, c_ptr
       type(c_ptr), value :: a, b
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_dot_product

     function ds_outer_product(a, b, out) result(s) bind(c, name='ds_outer_product')
       import :: c_int, c_ptr
       type(c_ptr), value :: a, b
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_outer_product

     function ds_transpose(a, out) result(s) bind(c, name='ds_transpose')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_transpose

     ! ---- differentiation -----------------------------------------------------------------------
     function ds_grad_forward(f, x, out) result(s) bind(c, name='ds_grad_forward')
       import :: c_int, c_ptr
       type(c_ptr), value :: f, x
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_grad_forward

     function ds_grad_reverse(f, seed, len) result(s) bind(c, name='ds_grad_reverse')
       import :: c_int, c_ptr, c_size_t
       type(c_ptr), value :: f, seed
       integer(c_size_t), value :: len
       integer(c_int) :: s
     end function ds_grad_reverse

     function ds_zero_grad(a) result(s) bind(c, name='ds_zero_grad')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       integer(c_int) :: s
     end function ds_zero_grad

     function ds_nullify_graph(a) result(s) bind(c, name='ds_nullify_graph')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       integer(c_int) :: s
     end function ds_nullify_graph

     ! ---- data movement and selection (positions 1-based) -----------------------------------
     function ds_spread(source, dim, index, ncopies, out) result(s) bind(c, name='ds_spread')
       import :: c_int, c_ptr, c_int32_t, c_int64_t
       type(c_ptr), value :: source
       integer(c_int32_t), value :: dim
       integer(c_int64_t), value :: index, ncopies
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_spread

     function ds_unspread(source, index, dim, new_size, out) result(s) &
          bind(c, name='ds_unspread')
       import :: c_int, c_ptr, c_int32_t, c_int64_t
       type(c_ptr), value :: source
       integer(c_int64_t), value :: index
       integer(c_int32_t), value :: dim
       integer(c_int64_t), value :: new_size
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_unspread

     function ds_sum_pad(a, dim, new_dim_index, new_dim_size, out) result(s) &
          bind(c, name='ds_sum_pad')
       import :: c_int, c_ptr, c_int32_t, c_int64_t
       type(c_ptr), value :: a
       integer(c_int32_t), value :: dim
       integer(c_int64_t), value :: new_dim_index, new_dim_size
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_sum_pad

     function ds_concat(a, b, dim, out) result(s) bind(c, name='ds_concat')
       import :: c_int, c_ptr, c_int32_t
       type(c_ptr), value :: a, b
       integer(c_int32_t), value :: dim
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_concat

     function ds_slice(kind, a, b, dim, out) result(s) bind(c, name='ds_slice')
       import :: c_int, c_ptr, c_int32_t, c_int64_t
       integer(c_int32_t), value :: kind
       type(c_ptr), value :: a
       integer(c_int64_t), value :: b
       integer(c_int32_t), value :: dim
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_slice

     function ds_index(a, indices, n, out) result(s) bind(c, name='ds_index')
       import :: c_int, c_ptr, c_int64_t, c_size_t
       type(c_ptr), value :: a
       integer(c_int64_t), intent(in) :: indices(*)
       integer(c_size_t), value :: n
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_index

     function ds_reverse_index(a, indices, n, from, new_index_size, out) result(s) &
          bind(c, name='ds_reverse_index')
       import :: c_int, c_ptr, c_int64_t, c_size_t, c_bool
       type(c_ptr), value :: a
       integer(c_int64_t), intent(in) :: indices(*)
       integer(c_size_t), value :: n
       logical(c_bool), value :: from
       integer(c_int64_t), value :: new_index_size
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_reverse_index

     function ds_pack_mask(a, dim, mask, n, out) result(s) bind(c, name='ds_pack_mask')
       import :: c_int, c_ptr, c_int32_t, c_size_t
       type(c_ptr), value :: a
       integer(c_int32_t), value :: dim
       type(c_ptr), value :: mask
       integer(c_size_t), value :: n
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_pack_mask

     function ds_pack_indices(a, indices, n, dim, out) result(s) &
          bind(c, name='ds_pack_indices')
       import :: c_int, c_ptr, c_int32_t, c_int64_t, c_size_t
       type(c_ptr), value :: a
       integer(c_int64_t), intent(in) :: indices(*)
       integer(c_size_t), value :: n
       integer(c_int32_t), value :: dim
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_pack_indices

     function ds_unpack_mask(a, array_shape, rank, dim, indices, n, out) result(s) &
          bind(c, name='ds_unpack_mask')
       import :: c_int, c_ptr, c_int32_t, c_int64_t, c_size_t
       type(c_ptr), value :: a
       integer(c_int64_t), intent(in) :: array_shape(*)
       integer(c_size_t), value :: rank
       integer(c_int32_t), value :: dim
       type(c_ptr), value :: indices
       integer(c_size_t), value :: n
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_unpack_mask

     function ds_unpack_indices(a, indices, n, dim, new_size, out) result(s) &
          bind(c, name='ds_unpack_indices')
       import :: c_int, c_ptr, c_int32_t, c_int64_t, c_size_t
       type(c_ptr), value :: a
       integer(c_int64_t), intent(in) :: indices(*)
       integer(c_size_t), value :: n
       integer(c_int32_t), value :: dim
       integer(c_int64_t), value :: new_size
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_unpack_indices

     function ds_reshape(a, new_shape, rank, out) result(s) bind(c, name='ds_reshape')
       import :: c_int, c_ptr, c_int64_t, c_size_t
       type(c_ptr), value :: a
       integer(c_int64_t), intent(in) :: new_shape(*)
       integer(c_size_t), value :: rank
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_reshape

     function ds_merge(tsource, fsource, mask, n, out) result(s) bind(c, name='ds_merge')
       import :: c_int, c_ptr, c_size_t, c_bool
       type(c_ptr), value :: tsource, fsource
       logical(c_bool), intent(in) :: mask(*)
       integer(c_size_t), value :: n
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_merge

     function ds_merge_scalar(tsource, fsource, mask, n, out) result(s) &
          bind(c, name='ds_merge_scalar')
       import :: c_int, c_ptr, c_size_t, c_bool, c_float, c_double
       type(c_ptr), value :: tsource
       real(c_double), value :: fsource
       logical(c_bool), intent(in) :: mask(*)
       integer(c_size_t), value :: n
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_merge_scalar

     function ds_scalar_merge(tsource, fsource, mask, n, out) result(s) &
          bind(c, name='ds_scalar_merge')
       import :: c_int, c_ptr, c_size_t, c_bool, c_float, c_double
       real(c_double), value :: tsource
       type(c_ptr), value :: fsource
       logical(c_bool), intent(in) :: mask(*)
       integer(c_size_t), value :: n
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_scalar_merge

     function ds_merge_real2d(tsource, fsource, rows, cols, mask, n, out) result(s) &
          bind(c, name='ds_merge_real2d')
       import :: c_int, c_ptr, c_size_t, c_bool, c_float
       type(c_ptr), value :: tsource
       real(c_float), intent(in) :: fsource(*)
       integer(c_size_t), value :: rows, cols
       logical(c_bool), intent(in) :: mask(*)
       integer(c_size_t), value :: n
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_merge_real2d

     ! ---- custom operations -------------------------------------------------------------------
     function ds_custom_op_create(name, rules, out) result(s) bind(c, name='ds_custom_op_create')
       import :: c_int, c_ptr, c_char, ds_custom_rules
       character(kind=c_char), intent(in) :: name(*)
       type(ds_custom_rules), intent(in) :: rules
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_custom_op_create

     function ds_custom_op_free(op) result(s) bind(c, name='ds_custom_op_free')
       import :: c_int, c_ptr
       type(c_ptr), value :: op
       integer(c_int) :: s
     end function ds_custom_op_free

     function ds_array_set_custom(a, op, inputs, n) result(s) bind(c, name='ds_array_set_custom')
       import :: c_int, c_ptr, c_size_t
       type(c_ptr), value :: a, op
       type(c_ptr), intent(in) :: inputs(*)
       integer(c_size_t), value :: n
       integer(c_int) :: s
     end function ds_array_set_custom

     subroutine ds_set_last_error(message) bind(c, name='ds_set_last_error')
       import :: c_char
       character(kind=c_char), intent(in) :: message(*)
     end subroutine ds_set_last_error

     ! ---- graph utilities ---------------------------------------------------------------------
     function ds_duplicate_graph(a, out) result(s) bind(c, name='ds_duplicate_graph')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_duplicate_graph

     function ds_detach(a) result(s) bind(c, name='ds_detach')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       integer(c_int) :: s
     end function ds_detach

     function ds_array_id(a, id) result(s) bind(c, name='ds_array_id')
       import :: c_int, c_ptr, c_int64_t
       type(c_ptr), value :: a
       integer(c_int64_t), intent(out) :: id
       integer(c_int) :: s
     end function ds_array_id

     function ds_array_set_id(a, id) result(s) bind(c, name='ds_array_set_id')
       import :: c_int, c_ptr, c_int64_t
       type(c_ptr), value :: a
       integer(c_int64_t), value :: id
       integer(c_int) :: s
     end function ds_array_set_id

     function ds_graph_find_id(root, id, out) result(s) bind(c, name='ds_graph_find_id')
       import :: c_int, c_ptr, c_int64_t
       type(c_ptr), value :: root
       integer(c_int64_t), value :: id
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_graph_find_id

     ! ---- support for this module's objects (bindings, registered objects, lending) ----------
     function ds_binding_set(token, a) result(s) bind(c, name='ds_binding_set')
       import :: c_int, c_ptr
       type(c_ptr), value :: token, a
       integer(c_int) :: s
     end function ds_binding_set

     function ds_binding_release(token, a, released) result(s) &
          bind(c, name='ds_binding_release')
       import :: c_int, c_ptr, c_bool
       type(c_ptr), value :: token, a
       logical(c_bool), intent(out) :: released
       integer(c_int) :: s
     end function ds_binding_release

     function ds_binding_drop(token) result(s) bind(c, name='ds_binding_drop')
       import :: c_int, c_ptr
       type(c_ptr), value :: token
       integer(c_int) :: s
     end function ds_binding_drop

     function ds_binding_take(token, a, taken) result(s) bind(c, name='ds_binding_take')
       import :: c_int, c_ptr, c_bool
       type(c_ptr), value :: token, a
       logical(c_bool), intent(out) :: taken
       integer(c_int) :: s
     end function ds_binding_take

     function ds_binding_owner(token, a, owner) result(s) bind(c, name='ds_binding_owner')
       import :: c_int, c_ptr, c_bool
       type(c_ptr), value :: token, a
       logical(c_bool), intent(out) :: owner
       integer(c_int) :: s
     end function ds_binding_owner

     function ds_object_register(object, token, serial) result(s) &
          bind(c, name='ds_object_register')
       import :: c_int, c_ptr, c_int64_t
       type(c_ptr), value :: object, token
       integer(c_int64_t), intent(out) :: serial
       integer(c_int) :: s
     end function ds_object_register

     function ds_object_retoken(old, new) result(s) bind(c, name='ds_object_retoken')
       import :: c_int, c_ptr
       type(c_ptr), value :: old, new
       integer(c_int) :: s
     end function ds_object_retoken

     function ds_object_of_token(token, object, serial, state) result(s) &
          bind(c, name='ds_object_of_token')
       import :: c_int, c_ptr, c_int64_t, c_int32_t
       type(c_ptr), value :: token
       type(c_ptr), intent(out) :: object
       integer(c_int64_t), intent(out) :: serial
       integer(c_int32_t), intent(out) :: state
       integer(c_int) :: s
     end function ds_object_of_token

     function ds_object_unregister(token, state) result(s) &
          bind(c, name='ds_object_unregister')
       import :: c_int, c_ptr, c_int32_t
       type(c_ptr), value :: token
       integer(c_int32_t), intent(out) :: state
       integer(c_int) :: s
     end function ds_object_unregister

     function ds_object_live(object, serial, live) result(s) bind(c, name='ds_object_live')
       import :: c_int, c_ptr, c_int64_t, c_bool
       type(c_ptr), value :: object
       integer(c_int64_t), value :: serial
       logical(c_bool), intent(out) :: live
       integer(c_int) :: s
     end function ds_object_live

     function ds_object_quarantine(object, serial, token, evicted) result(s) &
          bind(c, name='ds_object_quarantine')
       import :: c_int, c_ptr, c_int64_t
       type(c_ptr), value :: object
       integer(c_int64_t), value :: serial
       type(c_ptr), value :: token
       type(c_ptr), intent(out) :: evicted
       integer(c_int) :: s
     end function ds_object_quarantine

     function ds_object_retire(object, serial, bytes, evicted) result(s) &
          bind(c, name='ds_object_retire')
       import :: c_int, c_ptr, c_int64_t, c_size_t
       type(c_ptr), value :: object
       integer(c_int64_t), value :: serial
       integer(c_size_t), value :: bytes
       type(c_ptr), intent(out) :: evicted
       integer(c_int) :: s
     end function ds_object_retire

     function ds_object_retired_oldest(evicted) result(s) &
          bind(c, name='ds_object_retired_oldest')
       import :: c_int, c_ptr
       type(c_ptr), intent(out) :: evicted
       integer(c_int) :: s
     end function ds_object_retired_oldest


     function ds_array_adopt_object(owner, object, serial, destroy) result(s) &
          bind(c, name='ds_array_adopt_object')
       import :: c_int, c_ptr, c_int64_t, c_funptr
       type(c_ptr), value :: owner, object
       integer(c_int64_t), value :: serial
       type(c_funptr), value :: destroy
       integer(c_int) :: s
     end function ds_array_adopt_object

     function ds_array_lend(a, desc, data) result(s) bind(c, name='ds_array_lend')
       import :: c_int, c_ptr
       type(c_ptr), value :: a, desc
       type(c_ptr), intent(out) :: data
       integer(c_int) :: s
     end function ds_array_lend

     function ds_array_reclaim(a, kept) result(s) bind(c, name='ds_array_reclaim')
       import :: c_int, c_ptr, c_bool
       type(c_ptr), value :: a
       logical(c_bool), intent(out) :: kept
       integer(c_int) :: s
     end function ds_array_reclaim

     function ds_array_is_lent(a, lent) result(s) bind(c, name='ds_array_is_lent')
       import :: c_int, c_ptr, c_bool
       type(c_ptr), value :: a
       logical(c_bool), intent(out) :: lent
       integer(c_int) :: s
     end function ds_array_is_lent

     function ds_array_clone(a, out) result(s) bind(c, name='ds_array_clone')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_clone

     function ds_array_sync(a, data, len, changed) result(s) bind(c, name='ds_array_sync')
       import :: c_int, c_ptr, c_float, c_size_t, c_bool
       type(c_ptr), value :: a
       real(c_float), intent(in) :: data(*)
       integer(c_size_t), value :: len
       logical(c_bool), intent(out) :: changed
       integer(c_int) :: s
     end function ds_array_sync

     function ds_array_set_user_data(a, data, destroy) result(s) &
          bind(c, name='ds_array_set_user_data')
       import :: c_int, c_ptr, c_funptr
       type(c_ptr), value :: a, data
       type(c_funptr), value :: destroy
       integer(c_int) :: s
     end function ds_array_set_user_data

     function ds_array_user_data(a, data) result(s) bind(c, name='ds_array_user_data')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: data
       integer(c_int) :: s
     end function ds_array_user_data

     function ds_array_set_grad(a, g) result(s) bind(c, name='ds_array_set_grad')
       import :: c_int, c_ptr
       type(c_ptr), value :: a, g
       integer(c_int) :: s
     end function ds_array_set_grad

     ! ---- real64 arrays --------------------------------------------------------------------
     function ds_array_dtype(a, dtype) result(s) bind(c, name='ds_array_dtype')
       import :: c_int, c_ptr, c_int32_t
       type(c_ptr), value :: a
       integer(c_int32_t), intent(out) :: dtype
       integer(c_int) :: s
     end function ds_array_dtype

     function ds_array_create_f64(shape, rank, batch, out) result(s) &
          bind(c, name='ds_array_create_f64')
       import :: c_int, c_int64_t, c_size_t, c_ptr
       integer(c_int64_t), intent(in) :: shape(*)
       integer(c_size_t), value :: rank
       integer(c_int64_t), value :: batch
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_create_f64

     function ds_array_from_data_f64(shape, rank, batch, data, len, out) result(s) &
          bind(c, name='ds_array_from_data_f64')
       import :: c_int, c_int64_t, c_size_t, c_ptr, c_double
       integer(c_int64_t), intent(in) :: shape(*)
       integer(c_size_t), value :: rank
       integer(c_int64_t), value :: batch
       real(c_double), intent(in) :: data(*)
       integer(c_size_t), value :: len
       type(c_ptr), intent(out) :: out
       integer(c_int) :: s
     end function ds_array_from_data_f64

     function ds_array_data_f64(a, data) result(s) bind(c, name='ds_array_data_f64')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: data
       integer(c_int) :: s
     end function ds_array_data_f64

     function ds_array_grad_data_f64(a, data) result(s) bind(c, name='ds_array_grad_data_f64')
       import :: c_int, c_ptr
       type(c_ptr), value :: a
       type(c_ptr), intent(out) :: data
       integer(c_int) :: s
     end function ds_array_grad_data_f64

     function ds_array_lend_f64(a, desc, data) result(s) bind(c, name='ds_array_lend_f64')
       import :: c_int, c_ptr
       type(c_ptr), value :: a, desc
       type(c_ptr), intent(out) :: data
       integer(c_int) :: s
     end function ds_array_lend_f64

     function ds_array_sync_f64(a, data, len, changed) result(s) &
          bind(c, name='ds_array_sync_f64')
       import :: c_int, c_ptr, c_double, c_size_t, c_bool
       type(c_ptr), value :: a
       real(c_double), intent(in) :: data(*)
       integer(c_size_t), value :: len
       logical(c_bool), intent(out) :: changed
       integer(c_int) :: s
     end function ds_array_sync_f64

     function ds_grad_reverse_f64(f, seed, len) result(s) bind(c, name='ds_grad_reverse_f64')
       import :: c_int, c_ptr, c_size_t
       type(c_ptr), value :: f, seed
       integer(c_size_t), value :: len
       integer(c_int) :: s
     end function ds_grad_reverse_f64

     function ds_array_set_direction_f64(a, direction, len) result(s) &
          bind(c, name='ds_array_set_direction_f64')
       import :: c_int, c_ptr, c_double, c_size_t
       type(c_ptr), value :: a
       real(c_double), intent(in) :: direction(*)
       integer(c_size_t), value :: len
       integer(c_int) :: s
     end function ds_array_set_direction_f64

     ! The token type's final procedure (pure) reaches the module through this call
     ! (diffstruc_cfi.c), which the compiler cannot see into.
     pure subroutine diffstruc_token_going(going, token) bind(c, name='diffstruc_token_going')
       import :: c_funptr, c_ptr
       type(c_funptr), value :: going
       type(c_ptr), value :: token
     end subroutine diffstruc_token_going

     function diffstruc_find_word(object, n, want) result(i) bind(c, name='diffstruc_find_word')
       import :: c_ptr, c_int64_t
       type(c_ptr), value :: object, want
       integer(c_int64_t), value :: n
       integer(c_int64_t) :: i
     end function diffstruc_find_word

     subroutine diffstruc_forget_at(descriptor) bind(c, name='diffstruc_forget_at')
       import :: c_ptr
       type(c_ptr), value :: descriptor
     end subroutine diffstruc_forget_at
  end interface
end module diffstruc_c
