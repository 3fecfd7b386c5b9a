!> The object model of module diffstruc: how an `array_type` object refers to its core array,
!> and its lifecycle (allocate, deallocate, assignment, finalisation). docs/fortran-object-model.md
!> explains the reasoning; the rules, in short:
!>
!>  * **Token.** An object refers to its core array through `ref`, a private allocatable of
!>    type `array_ref` holding the handle. The object *owns* the handle only if the library's
!>    binding table lists the token's address (`ds_binding_*`): every deep copy the compiler or
!>    the program makes gets a new token, so copies are recognised and never free anything.
!>    The token has the final procedure (array_type has none), and keys everything it does on
!>    its own address, so that it is harmless on copies, temporaries and repeated calls.
!>  * **Heap objects** are the objects this module allocates (operation results, gradients,
!>    views). They are registered with the library with their token (`ds_object_*`), so that a
!>    release by their consumer and one by the program cannot both free them, and their `val`
!>    is the core's buffer itself (lent: the descriptor is pointed at it, and taken back before
!>    the object goes). All other objects (variables, components, copies) keep their own `val`,
!>    which the core reads whenever the object is used (`ds_array_sync`: copied if it changed).
!>  * **Copies.** A copy that matches its original (same values and flags, original alive) is
!>    used as the original; one that differs, or whose original is gone, gets a core array of
!>    its own (a clone linked to the same inputs, so gradients still flow), which it owns.
submodule (diffstruc) diffstruc_objects
  implicit none

  !> Flags a copy must share with its original to stand for it.
  integer(c_int32_t), parameter :: MATCH_BITS = BIT_REQUIRES_GRAD + BIT_SAMPLE_DEPENDENT + &
       BIT_SCALAR

  !> Byte offsets of the descriptors of components `val` and `val64` in an array_type object
  !> (-1: not known yet).
  integer(c_intptr_t), save :: val_offset = -1, val64_offset = -1

  !> A polymorphic pointer to an object of an extension type this module adopted, so that it
  !> can be deallocated as what it is.
  type :: shell_ref
     class(array_type), pointer :: p => null()
  end type shell_ref

  !> What the library keeps with a core array on behalf of this module (its node's user data).
  type :: node_record
     !> The gradient object of this array, shared by every object that uses the array, and
     !> released with the array.
     type(c_ptr) :: grad_obj = c_null_ptr
     integer(c_int64_t) :: grad_serial = 0
     !> diffstruc's integer and mask metadata of the object that last used the array (read by
     !> custom derivative rules through their operands).
     integer, dimension(:), allocatable :: indices
     integer, dimension(:,:), allocatable :: adj_ja
     logical, dimension(:,:), allocatable :: mask
  end type node_record

contains

!===============================================================================================
! Values of either kind (real32 `val`, real64 `val64`)
!===============================================================================================

  !> True if `x` has values: real32 (`val`) or real64 (`val64`).
  module pure logical function has_values(x)
    class(array_type), intent(in) :: x
    has_values = allocated(x%val) .or. allocated(x%val64)
  end function has_values

  !> Extent `dim` (1: values per sample, 2: samples) of `x`'s values, of either kind; 0 if it
  !> has none.
  module pure integer function values_extent(x, dim)
    class(array_type), intent(in) :: x
    integer, intent(in) :: dim
    values_extent = 0
    if (allocated(x%val64)) then
       values_extent = size(x%val64, dim)
    else if (allocated(x%val)) then
       values_extent = size(x%val, dim)
    end if
  end function values_extent

  !> Number of values of `x`, of either kind.
  module pure integer function values_size(x)
    class(array_type), intent(in) :: x
    values_size = values_extent(x, 1) * values_extent(x, 2)
  end function values_size

  !> Stops with a clear message for an operation that only exists for real32 arrays.
  module subroutine require_real32(x, where)
    class(array_type), intent(in) :: x
    character(len=*), intent(in) :: where
    if (allocated(x%val64)) call fatal(where, 'not available for real64 arrays (the array ' // &
         'was allocated from real64 data; its values are in x%val64)')
  end subroutine require_real32

!===============================================================================================
! Addresses, tokens, registration
!===============================================================================================

  !> Address of an object (c_loc needs a non-polymorphic target).
  pure function address(x) result(p)
    type(array_type), intent(in), target :: x
    type(c_ptr) :: p
    p = c_loc(x)
  end function address

  !> Address of an object's token (the key of its binding and registration).
  function token_address(x) result(p)
    type(array_type), intent(in), target :: x
    type(c_ptr) :: p
    p = c_null_ptr
    if (allocated(x%ref)) p = c_loc(x%ref)
  end function token_address

  !> The handle an object refers to (NULL if none).
  module function handle_of(x) result(h)
    class(array_type), intent(in) :: x
    type(c_ptr) :: h
    h = c_null_ptr
    if (allocated(x%ref)) h = x%ref%h
  end function handle_of

  !> Gives handle `h` to object `x`, which then owns it: a new token, bound to `h` (a heap
  !> object's registration moves to it); any previous binding of `x` is released.
  subroutine bind(x, h)
    type(array_type), intent(inout), target :: x
    type(c_ptr), intent(in) :: h
    type(array_ref), allocatable, target :: t
    call return_values(x)
    allocate(t)
    t%h = h
    t%wide = is_real64(h)
    if (allocated(x%ref)) then
       call release_binding(x)
       if (is_heap(x)) then
          t%object = x%ref%object
          t%serial = x%ref%serial
          call check(ds_object_retoken(c_loc(x%ref), c_loc(t)), 'array_type')
       end if
    end if
    call check(ds_binding_set(c_loc(t), h), 'array_type')
    ! the old token goes here (its final procedure finds nothing of its own left)
    call move_alloc(t, x%ref)
  end subroutine bind

  !> Drops `x`'s core array: frees the handle if `x` owns it. A heap object keeps its token
  !> (its registration), without a handle; any other object loses its token.
  subroutine unbind(x)
    type(array_type), intent(inout), target :: x
    if (.not. allocated(x%ref)) return
    call return_values(x)
    call release_binding(x)
    x%ref%h = c_null_ptr
    if (.not. is_heap(x)) deallocate(x%ref)
  end subroutine unbind

  !> Frees the handle `x` holds if `x` owns it.
  subroutine release_binding(x)
    type(array_type), intent(in), target :: x
    logical(c_bool) :: released
    if (.not. allocated(x%ref)) return
    if (.not. c_associated(x%ref%h)) return
    call check(ds_binding_release(c_loc(x%ref), x%ref%h, released), 'array_type')
  end subroutine release_binding

  !> True if `x` owns the handle it holds.
  logical function is_owner(x)
    type(array_type), intent(in), target :: x
    logical(c_bool) :: owner
    is_owner = .false.
    if (.not. allocated(x%ref)) return
    if (.not. c_associated(x%ref%h)) return
    call check(ds_binding_owner(c_loc(x%ref), x%ref%h, owner), 'array_type')
    is_owner = owner
  end function is_owner

  !> True if `x` is a heap object of this module with its contents (live or retired), not a
  !> copy of one.
  logical function is_heap(x)
    type(array_type), intent(in), target :: x
    type(c_ptr) :: object
    integer(c_int64_t) :: serial
    integer(c_int32_t) :: state
    is_heap = .false.
    if (.not. allocated(x%ref)) return
    if (.not. c_associated(x%ref%object, address(x))) return
    call check(ds_object_of_token(c_loc(x%ref), object, serial, state), 'array_type')
    is_heap = c_associated(object, address(x)) .and. (state == 1 .or. state == 3)
  end function is_heap

  !> A new object allocated by this module, registered as such.
  function new_object() result(c)
    type(array_type), pointer :: c
    allocate(c)
    call register_object(c)
  end function new_object

  !> Registers `x` as a heap object (one this module may deallocate), with a token of its own.
  module subroutine register_object(x)
    type(array_type), intent(inout), target :: x
    if (allocated(x%ref)) then
       call unbind(x)
       if (allocated(x%ref)) deallocate(x%ref)
    end if
    allocate(x%ref)
    x%ref%object = address(x)
    call check(ds_object_register(address(x), c_loc(x%ref), x%ref%serial), 'array_type')
  end subroutine register_object

  !> The final procedure of a token. Compilers call it on copies, on temporaries, several
  !> times or not at all, and gfortran 12 sometimes on what is not a token: so it acts on the
  !> library's tables only, by the token's address, and reads the token only if the library
  !> knows it. Pure (so that array_type stays definable in pure procedures): it hands the
  !> token's address to `token_going` through a C call.
  module pure elemental subroutine release_token(this)
    type(array_ref), intent(inout), target :: this
    call diffstruc_token_going(c_funloc(token_going), c_loc(this))
  end subroutine release_token

  !> A token is going: a heap object that it speaks for gives its values back to the core
  !> (its `val` is still allocated: the token comes before it) and is unregistered; a handle
  !> bound to it is freed.
  subroutine token_going(token) bind(c)
    type(c_ptr), value :: token
    type(c_ptr) :: object
    integer(c_int64_t) :: serial
    integer(c_int32_t) :: state
    integer(c_int) :: status
    type(array_ref), pointer :: t
    type(array_type), pointer :: p
    type(shell_ref), pointer :: shell
    if (.not. c_associated(token)) return
    status = ds_object_of_token(token, object, serial, state)
    if (status == DS_OK .and. (state == 1 .or. state == 3)) then
       ! a heap object (live, or retired by its consumer) released by the program
       call c_f_pointer(token, t)
       call c_f_pointer(object, p)
       call give_back(t)
       if (c_associated(t%shell)) then
          ! (the program deallocates the object itself: only the holder of its pointer goes)
          call c_f_pointer(t%shell, shell)
          deallocate(shell)
          t%shell = c_null_ptr
       end if
       if (c_associated(t%h)) call adopt_pending(p, t%h)
    end if
    if (status == DS_OK .and. state /= 0) status = ds_object_unregister(token, state)
    status = ds_binding_drop(token)
  end subroutine token_going

  !> The core's buffer held by a `val`, given back: a lent buffer is reclaimed (if the
  !> program freed or replaced it, it is the program's) and a viewed one dropped; the
  !> descriptor is left unallocated (nothing is freed).
  subroutine give_back(t)
    type(array_ref), intent(inout) :: t
    logical(c_bool) :: kept
    if (.not. c_associated(t%desc)) return
    if (t%alias) then
       call diffstruc_forget_at(t%desc)
    else if (c_associated(t%h)) then
       if (ds_array_reclaim(t%h, kept) == DS_OK) then
          if (kept) call diffstruc_forget_at(t%desc)
       end if
    end if
    t%desc = c_null_ptr
    t%alias = .false.
  end subroutine give_back

  !> A custom result released before it was ever used (never linked to its operands) still
  !> owns its constant operands: its array adopts them, so that they go with it.
  subroutine adopt_pending(p, h)
    type(array_type), intent(inout), target :: p
    type(c_ptr), intent(in) :: h
    integer(c_size_t) :: n
    if (.not. has_rules(p)) return
    if (ds_array_num_inputs(h, n) /= DS_OK) return
    if (n /= 0) return
    if (p%owns_left_operand .and. associated(p%left_operand)) &
         call adopt_constant(h, p%left_operand)
    if (p%owns_right_operand .and. associated(p%right_operand)) &
         call adopt_constant(h, p%right_operand)
  end subroutine adopt_pending

  !> Array `owner` releases operand `x` with itself, if it is a constant (no gradient) the
  !> program allocated for it, or a temporary result of this module, as diffstruc's
  !> nullify_graph frees owned operands.
  module subroutine adopt_constant(owner, x)
    type(c_ptr), intent(in) :: owner
    type(array_type), intent(inout), target :: x
    if (.not. is_heap(x)) then
       if (x%requires_grad .or. x%fix_pointer) return
       call register_object(x)
    end if
    call check(ds_array_adopt_object(owner, address(x), x%ref%serial, &
         c_funloc(release_adopted)), 'array_type')
  end subroutine adopt_constant


!===============================================================================================
! Values: lending the core's buffer to heap objects, copying it into the others
!===============================================================================================

  !> Address of the descriptor of `x%val` (whose first word is the data address).
  function val_descriptor(x) result(p)
    type(array_type), intent(in), target :: x
    type(c_ptr) :: p
    if (val_offset < 0) call find_val_offsets()
    p = transfer(transfer(address(x), 0_c_intptr_t) + val_offset, c_null_ptr)
  end function val_descriptor

  !> Address of the descriptor of `x%val64`.
  function val64_descriptor(x) result(p)
    type(array_type), intent(in), target :: x
    type(c_ptr) :: p
    if (val64_offset < 0) call find_val_offsets()
    p = transfer(transfer(address(x), 0_c_intptr_t) + val64_offset, c_null_ptr)
  end function val64_descriptor

  !> Finds where the descriptors of `val` and `val64` sit in an object, and checks once that
  !> this compiler's descriptors have the layout diffstruc_cfi.c writes.
  subroutine find_val_offsets()
    type(array_type), target, allocatable :: probe
    real(c_float), target :: buf(6)
    real(c_double), target :: buf64(6)
    integer(c_intptr_t), pointer :: words(:)
    type(c_ptr) :: base, data
    integer(c_int64_t) :: ext(2)
    logical :: ok
    integer :: n
    allocate(probe)
    ! every byte defined (padding too), so that the scan below reads only defined memory: all
    ! zeros is a valid object (unallocated components, null pointers) for both compilers
    n = int(storage_size(probe) / storage_size(0_c_intptr_t))
    call c_f_pointer(address(probe), words, [n])
    words = 0
    allocate(probe%val(3, 5))
    call diffstruc_describe_real2(probe%val, base, ext)
    ! (two statements: gfortran 12 fails on c_associated(x, c_loc(...)) in a submodule)
    data = c_loc(probe%val(1, 1))
    if (.not. c_associated(base, data) .or. ext(1) /= 3 .or. ext(2) /= 5) &
         call fatal('array_type', 'unsupported array descriptor layout for this compiler')
    val_offset = offset_of(base)
    deallocate(probe%val)
    allocate(probe%val(1, 1))
    buf = [1, 2, 3, 4, 5, 6]
    if (.not. diffstruc_point_real2(probe%val, c_loc(buf), 2_c_int64_t, 3_c_int64_t)) &
         call fatal('array_type', 'fortran/diffstruc_cfi.c was compiled with another ' // &
         'compiler''s ISO_Fortran_binding.h than this module')
    ok = size(probe%val, 1) == 2 .and. size(probe%val, 2) == 3 .and. &
         lbound(probe%val, 1) == 1 .and. lbound(probe%val, 2) == 1 .and. probe%val(2, 3) == 6.0
    call diffstruc_forget(probe%val)
    allocate(probe%val64(3, 5))
    call diffstruc_describe_real2(probe%val64, base, ext)
    data = c_loc(probe%val64(1, 1))
    if (.not. c_associated(base, data) .or. ext(1) /= 3 .or. ext(2) /= 5) ok = .false.
    val64_offset = offset_of(base)
    deallocate(probe%val64)
    allocate(probe%val64(1, 1))
    buf64 = [1, 2, 3, 4, 5, 6]
    if (.not. diffstruc_point_real2(probe%val64, c_loc(buf64), 2_c_int64_t, 3_c_int64_t)) &
         ok = .false.
    ok = ok .and. size(probe%val64, 1) == 2 .and. size(probe%val64, 2) == 3 .and. &
         probe%val64(2, 3) == 6.0_real64
    call diffstruc_forget(probe%val64)
    deallocate(probe)
    if (.not. ok) call fatal('array_type', 'unsupported array descriptor layout for this compiler')
  contains
    !> Byte offset in the probe of the word that holds `at` (a descriptor's base address).
    integer(c_intptr_t) function offset_of(at)
      type(c_ptr), intent(in) :: at
      integer(c_int64_t) :: i
      i = diffstruc_find_word(address(probe), int(n, c_int64_t), at)
      if (i < 0) call fatal('array_type', 'cannot locate the values'' descriptor in array_type')
      offset_of = int(i, c_intptr_t) * int(storage_size(0_c_intptr_t) / 8, c_intptr_t)
    end function offset_of
  end subroutine find_val_offsets

  !> Makes `c%val` (`c%val64` for a real64 array) the core's value buffer of its array (zero
  !> copy); falls back to a copy when the buffer cannot be lent (caller memory, or already lent
  !> to another object).
  subroutine lend_values(c)
    type(array_type), intent(inout), target :: c
    type(c_ptr) :: data, h
    integer(c_int) :: status
    h = c%ref%h
    if (allocated(c%val)) deallocate(c%val)
    if (allocated(c%val64)) deallocate(c%val64)
    if (c%ref%wide) then
       status = ds_array_lend_f64(h, val64_descriptor(c), data)
    else
       status = ds_array_lend(h, val_descriptor(c), data)
    end if
    if (status == DS_OK) then
       call point_values(c, data, alias=.false.)
    else
       call copy_values(c, h)
    end if
  end subroutine lend_values

  !> Points `c%val` (`c%val64` for a real64 array) at the core's buffer `data` of its array
  !> and records it in the token: lent (`alias` false) or only viewed.
  subroutine point_values(c, data, alias)
    type(array_type), intent(inout), target :: c
    type(c_ptr), intent(in) :: data
    logical, intent(in) :: alias
    integer(c_int64_t) :: e, s
    logical(c_bool) :: ok
    call check(ds_array_extents(c%ref%h, e, s), 'array_type')
    if (c%ref%wide) then
       if (allocated(c%val64)) deallocate(c%val64)
       allocate(c%val64(1, 1))
       ok = diffstruc_point_real2(c%val64, data, e, s)
       c%ref%desc = val64_descriptor(c)
    else
       if (allocated(c%val)) deallocate(c%val)
       allocate(c%val(1, 1))
       ok = diffstruc_point_real2(c%val, data, e, s)
       c%ref%desc = val_descriptor(c)
    end if
    if (.not. ok) call fatal('array_type', 'unsupported array descriptor layout')
    c%ref%alias = alias
  end subroutine point_values

  !> True if core array `h` holds real64 values.
  logical function is_real64(h)
    type(c_ptr), intent(in) :: h
    integer(c_int32_t) :: dtype
    call check(ds_array_dtype(h, dtype), 'array_type')
    is_real64 = dtype == DS_REAL64
  end function is_real64

  !> `c%val` (or `c%val64`) = a copy of the values of `h`.
  subroutine copy_values(c, h)
    type(array_type), intent(inout) :: c
    type(c_ptr), intent(in) :: h
    type(c_ptr) :: data
    integer(c_int64_t) :: e, s
    real(c_float), pointer :: v(:,:)
    real(c_double), pointer :: v64(:,:)
    call check(ds_array_extents(h, e, s), 'array_type')
    if (is_real64(h)) then
       call check(ds_array_data_f64(h, data), 'array_type')
       call c_f_pointer(data, v64, [e, s])
       if (allocated(c%val)) deallocate(c%val)
       if (allocated(c%val64)) then
          if (any(shape(c%val64) /= [e, s])) deallocate(c%val64)
       end if
       if (.not. allocated(c%val64)) allocate(c%val64(e, s))
       c%val64 = v64
       return
    end if
    if (allocated(c%val64)) deallocate(c%val64)
    call check(ds_array_data(h, data), 'array_type')
    call c_f_pointer(data, v, [e, s])
    if (allocated(c%val)) then
       if (any(shape(c%val) /= [e, s])) deallocate(c%val)
    end if
    if (.not. allocated(c%val)) allocate(c%val(e, s))
    c%val = v
  end subroutine copy_values

  !> Points `v%val` (or `v%val64`) at the values of its array without taking them (a view for
  !> a rule).
  subroutine alias_values(v)
    type(array_type), intent(inout), target :: v
    type(c_ptr) :: data
    if (v%ref%wide) then
       call check(ds_array_data_f64(v%ref%h, data), 'array_type')
    else
       call check(ds_array_data(v%ref%h, data), 'array_type')
    end if
    call point_values(v, data, alias=.true.)
  end subroutine alias_values

  !> Gives a lent or viewed `val` back to the core (it becomes unallocated). If the program
  !> deallocated or replaced a lent `val`, the buffer is the program's and left alone.
  module subroutine return_values(x)
    type(array_type), intent(inout), target :: x
    if (.not. allocated(x%ref)) return
    if (.not. c_associated(x%ref%desc)) return
    if (.not. is_heap(x)) then
       ! a copy of a heap object: its val is its own copy
       x%ref%desc = c_null_ptr
       x%ref%alias = .false.
       return
    end if
    call give_back(x%ref)
  end subroutine return_values

  !> The flags of an object as core bits.
  pure integer(c_int32_t) function flag_bits(x)
    class(array_type), intent(in) :: x
    flag_bits = 0
    if (x%requires_grad) flag_bits = ior(flag_bits, BIT_REQUIRES_GRAD)
    if (x%is_sample_dependent) flag_bits = ior(flag_bits, BIT_SAMPLE_DEPENDENT)
    if (x%is_scalar) flag_bits = ior(flag_bits, BIT_SCALAR)
    if (x%is_forward) flag_bits = ior(flag_bits, BIT_FORWARD)
    if (x%is_temporary) flag_bits = ior(flag_bits, BIT_TEMPORARY)
    if (x%fix_pointer) flag_bits = ior(flag_bits, BIT_FIXED)
  end function flag_bits

  !> Reads shape, flags, tag and operation name of core array `h` into `x`.
  subroutine pull(x, h)
    type(array_type), intent(inout) :: x
    type(c_ptr), intent(in) :: h
    integer(c_int64_t) :: e, s, id
    integer(c_int64_t), allocatable, target :: shp(:)
    integer(c_size_t) :: r, n
    integer(c_int32_t) :: bits
    character(kind=c_char) :: name(33)
    integer :: i
    call check(ds_array_extents(h, e, s), 'array_type')
    call check(ds_array_shape(h, c_null_ptr, 0_c_size_t, r), 'array_type')
    allocate(shp(max(r, 1_c_size_t)))
    call check(ds_array_shape(h, c_loc(shp), size(shp, kind=c_size_t), r), 'array_type')
    x%shape = int(shp(1:r))
    x%size = int(e)
    x%rank = 1
    x%allocated = .true.
    call check(ds_array_flags(h, bits), 'array_type')
    x%requires_grad = iand(bits, BIT_REQUIRES_GRAD) /= 0
    x%is_sample_dependent = iand(bits, BIT_SAMPLE_DEPENDENT) /= 0
    x%is_scalar = iand(bits, BIT_SCALAR) /= 0
    x%is_forward = iand(bits, BIT_FORWARD) /= 0
    call check(ds_array_id(h, id), 'array_type')
    x%id = int(id)
    x%operation = ''
    if (ds_array_operation(h, name, size(name, kind=c_size_t), n) == DS_OK) then
       do i = 1, int(min(n, 32_c_size_t))
          x%operation(i:i) = name(i)
       end do
    end if
  end subroutine pull

!===============================================================================================
! Heap objects: results, views, temporaries taken over
!===============================================================================================

  !> A new heap object owning handle `h` (a fresh result), its `val` the core's buffer.
  module function make_heap(h) result(c)
    type(c_ptr), intent(in) :: h
    type(array_type), pointer :: c
    c => new_object()
    call bind(c, h)
    call pull(c, h)
    call lend_values(c)
  end function make_heap

  !> A heap object viewing core array `h` (a new handle to it; values viewed, not taken), with
  !> its metadata: what a custom derivative rule sees as `this` or an operand. With
  !> `prototype`, an object of that type (an extension of array_type whose own components the
  !> rules read). Release it with drop_object.
  module function make_view(h, prototype) result(v)
    type(c_ptr), intent(in) :: h
    class(array_type), intent(in), optional :: prototype
    class(array_type), pointer :: v
    if (present(prototype)) then
       allocate(v, source=prototype)
    else
       allocate(array_type :: v)
    end if
    call become_view(v, h)
  end function make_view

  !> Makes `v` (allocated here, of any extension type) a registered view of core array `h`.
  subroutine become_view(v, h)
    type(array_type), intent(inout), target :: v
    type(c_ptr), intent(in) :: h
    type(c_ptr) :: s, user
    type(node_record), pointer :: rec
    v%grad => null()
    v%left_operand => null()
    v%right_operand => null()
    v%original = c_null_ptr
    call register_object(v)
    call check(ds_array_share(h, s), 'custom operation')
    call bind(v, s)
    call pull(v, s)
    call alias_values(v)
    v%is_temporary = .false.
    call check(ds_array_user_data(s, user), 'custom operation')
    if (c_associated(user)) then
       call c_f_pointer(user, rec)
       if (allocated(rec%indices)) v%indices = rec%indices
       if (allocated(rec%adj_ja)) v%adj_ja = rec%adj_ja
       if (allocated(rec%mask)) v%mask = rec%mask
    end if
  end subroutine become_view

  !> Releases a heap object (and its operand views, for a view made by the custom layer).
  module recursive subroutine drop_object(p)
    class(array_type), pointer, intent(inout) :: p
    class(array_type), pointer :: operand
    logical :: view
    if (.not. associated(p)) return
    view = .false.
    if (allocated(p%ref)) view = p%ref%alias
    if (view) then
       ! the operand views (plain array_type objects)
       if (associated(p%left_operand)) then
          operand => p%left_operand
          call drop_object(operand)
       end if
       if (associated(p%right_operand)) then
          operand => p%right_operand
          call drop_object(operand)
       end if
    end if
    deallocate(p)
    p => null()
  end subroutine drop_object

  !> The result of an operation: a heap object owning `h`, with diffstruc's operand links and
  !> ownership marks; temporary heap operands now belong to it.
  module function linked(h, a, b) result(c)
    type(c_ptr), intent(in) :: h
    class(array_type), intent(in), target :: a
    class(array_type), intent(in), target, optional :: b
    type(array_type), pointer :: c, p
    c => make_heap(h)
    call set_builtin_rules(c, present(b))
    p => stand_in(a)
    if (c%requires_grad .and. p%requires_grad) then
       c%left_operand => p
       c%owns_left_operand = p%is_temporary
    end if
    ! (the operands as declared: an extension of array_type is adopted knowing its type)
    call adopt_temporary(h, a)
    if (present(b)) then
       p => stand_in(b)
       if (c%requires_grad .and. p%requires_grad) then
          c%right_operand => p
          c%owns_right_operand = p%is_temporary
       end if
       call adopt_temporary(h, b)
    end if
  end function linked

  !> diffstruc's rule: a temporary result consumed by an operation belongs to the consumer.
  !> The consumer's core array adopts the heap object (`x`, or the one `x` is a compiler copy
  !> of) and releases it when it is released itself, unless it is released before. A value
  !> assignment (`retire`) retires it instead: kept intact for a while, in case the program
  !> holds it by name and still uses it.
  module subroutine adopt_temporary(owner, x, retire)
    type(c_ptr), intent(in) :: owner
    class(array_type), intent(in), target :: x
    logical, intent(in), optional :: retire
    type(array_type), pointer :: p
    type(shell_ref), pointer :: shell
    logical :: retiring
    p => stand_in(x)
    if (.not. p%is_temporary) return
    if (.not. is_heap(p)) then
       ! a custom result the program allocated itself (athena's batch normalisation): diffstruc's
       ! consumer deallocates it, so it becomes this module's object
       if (.not. (p%requires_grad .and. has_rules(p) .and. allocated(p%ref))) return
       if (.not. c_associated(p%ref%h)) return
       p%ref%object = address(p)
       p%ref%keep_shell = .not. same_type_as(x, p)
       if (p%ref%keep_shell .and. c_associated(address(x), address(p))) then
          allocate(shell)
          shell%p => x
          p%ref%shell = c_loc(shell)
       end if
       call check(ds_object_register(address(p), c_loc(p%ref), p%ref%serial), 'array_type')
    end if
    retiring = .false.
    if (present(retire)) retiring = retire
    if (retiring) then
       call check(ds_array_adopt_object(owner, address(p), p%ref%serial, &
            c_funloc(retire_adopted)), 'array_type')
    else
       call check(ds_array_adopt_object(owner, address(p), p%ref%serial, &
            c_funloc(release_adopted)), 'array_type')
    end if
  end subroutine adopt_temporary

  !> Destructor of a temporary result taken over by a value assignment (`y = x*2`), called when
  !> the assigned object lets it go: retired, its contents kept for a while in case the program
  !> holds it by name (`f => x*2; y = f`) and still uses it, then released.
  subroutine retire_adopted(object) bind(c)
    type(c_ptr), value :: object
    type(array_type), pointer :: p
    type(c_ptr) :: evicted
    integer(c_size_t) :: bytes
    call c_f_pointer(object, p)
    bytes = 0
    if (allocated(p%val)) bytes = 4 * size(p%val, kind=c_size_t)
    if (allocated(p%val64)) bytes = 8 * size(p%val64, kind=c_size_t)
    call check(ds_object_retire(object, p%ref%serial, bytes, evicted), 'array_type')
    do while (c_associated(evicted))
       call release_adopted(evicted)
       call check(ds_object_retire(c_null_ptr, 0_c_int64_t, 0_c_size_t, evicted), 'array_type')
    end do
  end subroutine retire_adopted

  !> Releases every retired object now (diffstruc_release_retired).
  module subroutine release_retired()
    type(c_ptr) :: evicted
    do
       call check(ds_object_retired_oldest(evicted), 'diffstruc_release_retired')
       if (.not. c_associated(evicted)) exit
       call release_adopted(evicted)
    end do
  end subroutine release_retired

  !> Destructor of an adopted heap object, called by the core when its owner is released (or
  !> a retired object's time is up): the object releases what it holds and waits in
  !> quarantine with a small token of its own (so that a later `deallocate` by the program
  !> finds a valid object), until the quarantine is full.
  module subroutine release_adopted(object) bind(c)
    type(c_ptr), value :: object
    type(array_type), pointer :: p
    type(array_ref), allocatable, target :: tomb
    type(shell_ref), pointer :: shell
    type(c_ptr) :: evicted
    call c_f_pointer(object, p)
    call return_values(p)
    call release_binding(p)
    if (allocated(p%val)) deallocate(p%val)
    if (allocated(p%val64)) deallocate(p%val64)
    if (allocated(p%shape)) deallocate(p%shape)
    p%allocated = .false.
    p%left_operand => null()
    p%right_operand => null()
    p%grad => null()
    allocate(tomb)
    tomb%object = object
    tomb%serial = p%ref%serial
    tomb%keep_shell = p%ref%keep_shell
    tomb%shell = p%ref%shell
    call check(ds_object_quarantine(object, tomb%serial, c_loc(tomb), evicted), 'array_type')
    call move_alloc(tomb, p%ref)
    if (c_associated(evicted)) then
       call c_f_pointer(evicted, p)
       if (c_associated(p%ref%shell)) then
          ! an extension type: deallocated as what it is
          call c_f_pointer(p%ref%shell, shell)
          deallocate(shell%p)
          deallocate(shell)
       else if (p%ref%keep_shell) then
          deallocate(p%ref)
       else
          deallocate(p)
       end if
    end if
  end subroutine release_adopted

!===============================================================================================
! Operands: the core array an object stands for when it is used
!===============================================================================================

  !> The object `x` stands for. gfortran passes a parenthesised operation result, `(x*2.0)`, as
  !> a shallow copy of the result object and, after the call, frees the copy's allocatable
  !> components, which are the original's. Such a copy is recognised (the token of a live heap
  !> object at another address): its components are forgotten, so that nothing is freed, and
  !> the original is returned (and remembered in the copy for the rest of the operation). Any
  !> other object is returned as it is.
  function original_of(x) result(p)
    class(array_type), intent(in), target :: x
    type(array_type), pointer :: p, q
    type(c_ptr) :: object
    integer(c_int64_t) :: serial
    integer(c_int32_t) :: state
    p => x
    if (c_associated(p%original)) then
       call c_f_pointer(p%original, p)
       return
    end if
    if (.not. allocated(p%ref)) return
    if (.not. c_associated(p%ref%object) .or. c_associated(p%ref%object, address(p))) return
    ! the token is the original's own (not a deep copy of it)?
    call check(ds_object_of_token(c_loc(p%ref), object, serial, state), 'array_type')
    if (.not. c_associated(object, p%ref%object)) return
    call c_f_pointer(object, q)
    call forget_components(p)
    p%original = object
    p => q
  end function original_of

  !> The heap object a compiler's copy of it (shallow or deep) stands for, or the object itself:
  !> what a result's operand links point to, so that they do not point to a temporary copy.
  function stand_in(x) result(p)
    class(array_type), intent(in), target :: x
    type(array_type), pointer :: p
    logical(c_bool) :: live
    p => original_of(x)
    if (.not. allocated(p%ref)) return
    if (.not. c_associated(p%ref%object) .or. c_associated(p%ref%object, address(p))) return
    call check(ds_object_live(p%ref%object, p%ref%serial, live), 'array_type')
    if (live) call c_f_pointer(p%ref%object, p)
  end function stand_in

  !> Makes every allocatable component of `x` unallocated without freeing it.
  subroutine forget_components(x)
    type(array_type), intent(inout) :: x
    if (allocated(x%ref)) call diffstruc_forget_token(x%ref)
    if (allocated(x%val)) call diffstruc_forget(x%val)
    if (allocated(x%val64)) call diffstruc_forget(x%val64)
    if (allocated(x%shape)) call diffstruc_forget(x%shape)
    if (allocated(x%indices)) call diffstruc_forget(x%indices)
    if (allocated(x%adj_ja)) call diffstruc_forget(x%adj_ja)
    if (allocated(x%mask)) call diffstruc_forget(x%mask)
    if (allocated(x%direction)) call diffstruc_forget(x%direction)
  end subroutine forget_components

  !> The handle of the core array `x` stands for, made current: an owner pushes its values (if
  !> changed), flags, tag and metadata to its array; a copy is used as its original when it
  !> matches it, and otherwise gets an array of its own. Also registers a custom operation and
  !> gives a variable its gradient object.
  module recursive function operand(x, where) result(h)
    class(array_type), intent(in), target :: x
    character(len=*), intent(in) :: where
    type(c_ptr) :: h
    type(array_type), pointer :: p
    type(c_ptr) :: h2
    logical(c_bool) :: live
    ! `x` is intent(in) for the operators' sake; its token, gradient pointer and flags are a
    ! cache of library state, updated through a pointer to the same object
    p => original_of(x)
    if (.not. has_values(p)) call fatal(where, 'operand is not allocated')
    if (values_size(p) == 0) call fatal(where, 'operand has no elements (a zero extent)')
    if (allocated(p%ref)) then
       if (c_associated(p%ref%h)) then
          if (is_owner(p)) then
             call prepare_owner(p, where, x)
             h = p%ref%h
             return
          end if
          call check(ds_array_is_live(p%ref%h, live), where)
          if (live) then
             if (matches(p, p%ref%h)) then
                h = p%ref%h
                call ensure_grad(p, h)
                return
             end if
             ! a copy that differs from its original: a clone linked to the same inputs
             call check(ds_array_clone(p%ref%h, h2), where)
             call bind(p, h2)
             call prepare_owner(p, where, x)
             h = p%ref%h
             return
          end if
       end if
    end if
    ! never used before, or a copy whose original is gone: a new array from the values
    call bind(p, new_leaf(p, where))
    call prepare_owner(p, where, x)
    h = p%ref%h
  end function operand

  !> A new core array (no graph) holding `x`'s values and shape.
  function new_leaf(x, where) result(h)
    type(array_type), intent(in) :: x
    character(len=*), intent(in) :: where
    type(c_ptr) :: h
    integer(c_int64_t), allocatable :: shp(:)
    if (allocated(x%shape)) then
       if (product(x%shape) == values_extent(x, 1)) then
          shp = int(x%shape, c_int64_t)
       else
          shp = [int(values_extent(x, 1), c_int64_t)]
       end if
    else
       shp = [int(values_extent(x, 1), c_int64_t)]
    end if
    if (allocated(x%val64)) then
       call check(ds_array_from_data_f64(shp, size(shp, kind=c_size_t), &
            int(size(x%val64, 2), c_int64_t), x%val64, size(x%val64, kind=c_size_t), h), where)
       return
    end if
    call check(ds_array_from_data(shp, size(shp, kind=c_size_t), &
         int(size(x%val, 2), c_int64_t), x%val, size(x%val, kind=c_size_t), h), where)
  end function new_leaf

  !> True if copy `x` has the values and flags of the array `h` it refers to (its own token's).
  logical function matches(x, h)
    type(array_type), intent(in) :: x
    type(c_ptr), intent(in) :: h
    integer(c_int64_t) :: e, s
    integer(c_int32_t) :: bits
    type(c_ptr) :: data
    real(c_float), pointer :: v(:,:)
    real(c_double), pointer :: v64(:,:)
    matches = .false.
    call check(ds_array_extents(h, e, s), 'array_type')
    if (values_extent(x, 1) /= e .or. values_extent(x, 2) /= s) return
    if (allocated(x%val64) .neqv. x%ref%wide) return
    ! the flags that change what the array computes (not is_temporary, is_forward or
    ! fix_pointer, which only mark ownership and graph handling)
    call check(ds_array_flags(h, bits), 'array_type')
    if (iand(bits, MATCH_BITS) /= iand(flag_bits(x), MATCH_BITS)) return
    if (allocated(x%val64)) then
       call check(ds_array_data_f64(h, data), 'array_type')
       call c_f_pointer(data, v64, [e, s])
       matches = all(transfer(v64, 0_c_int64_t, size(v64)) == &
            transfer(x%val64, 0_c_int64_t, size(v64)))
       return
    end if
    call check(ds_array_data(h, data), 'array_type')
    call c_f_pointer(data, v, [e, s])
    matches = all(transfer(v, 0_c_int32_t, size(v)) == transfer(x%val, 0_c_int32_t, size(v)))
  end function matches

  !> Pushes an owner's state to its core array: values (unless they are the array's own
  !> buffer), flags, tag, metadata; registers a custom operation; attaches the gradient object.
  recursive subroutine prepare_owner(p, where, object)
    type(array_type), intent(inout), target :: p
    character(len=*), intent(in) :: where
    !> `p` as the program declared it (its dynamic type)
    class(array_type), intent(in) :: object
    integer(c_int64_t) :: e, s
    type(c_ptr) :: h, data, here
    h = p%ref%h
    if (c_associated(p%ref%desc) .and. is_heap(p)) then
       ! val is the core's buffer, unless the program deallocated or reallocated it
       if (allocated(p%val64)) then
          call check(ds_array_data_f64(h, data), where)
          here = c_loc(p%val64(1, 1))
       else if (p%ref%wide) then
          ! the program replaced real64 values by real32 ones
          here = c_null_ptr
       else
          call check(ds_array_data(h, data), where)
          here = c_loc(p%val(1, 1))
       end if
       if (.not. c_associated(here, data)) then
          ! the values are the program's now: a new array from them (the old one's buffer,
          ! if it was lent, is gone: a graph that still uses it reports that when it reads it)
          call bind(p, new_leaf(p, where))
          h = p%ref%h
       end if
    else
       call check(ds_array_extents(h, e, s), where)
       if (values_extent(p, 1) /= e .or. values_extent(p, 2) /= s .or. &
            (allocated(p%val64) .neqv. p%ref%wide)) then
          ! the program reallocated val with other extents (or kind): a new array from them
          call bind(p, new_leaf(p, where))
          h = p%ref%h
       else
          call push_values(p, h, where)
       end if
    end if
    call check(ds_array_set_flags(h, USER_BITS, flag_bits(p)), where)
    if (p%id /= -1) call check(ds_array_set_id(h, int(p%id, c_int64_t)), where)
    if (allocated(p%indices) .or. allocated(p%adj_ja) .or. allocated(p%mask)) &
         call store_metadata(p, h)
    call sync_custom(p, object)
    call ensure_grad(p, h)
  end subroutine prepare_owner

  !> Copies `p`'s values (of either kind; the extents and kind of `h`'s) into core array `h`
  !> if they differ.
  subroutine push_values(p, h, where)
    type(array_type), intent(in) :: p
    type(c_ptr), intent(in) :: h
    character(len=*), intent(in) :: where
    logical(c_bool) :: changed
    if (allocated(p%val64)) then
       call check(ds_array_sync_f64(h, p%val64, size(p%val64, kind=c_size_t), changed), where)
    else
       call check(ds_array_sync(h, p%val, size(p%val, kind=c_size_t), changed), where)
    end if
  end subroutine push_values

  !> The object's flags to its core array (so that a copy of the object matches the array).
  subroutine push_flags(x)
    type(array_type), intent(in) :: x
    if (.not. allocated(x%ref)) return
    if (c_associated(x%ref%h)) &
         call check(ds_array_set_flags(x%ref%h, USER_BITS, flag_bits(x)), 'array_type')
  end subroutine push_flags

!===============================================================================================
! Node records, gradient objects
!===============================================================================================

  !> The record kept with core array `h` (created if it has none).
  function record_of(h) result(rec)
    type(c_ptr), intent(in) :: h
    type(node_record), pointer :: rec
    type(c_ptr) :: user
    call check(ds_array_user_data(h, user), 'array_type')
    if (c_associated(user)) then
       call c_f_pointer(user, rec)
    else
       allocate(rec)
       call check(ds_array_set_user_data(h, c_loc(rec), c_funloc(free_record)), 'array_type')
    end if
  end function record_of

  !> Frees a node record, and releases the array's gradient object (called by the core when
  !> the array goes, at the end of the library call that released it).
  subroutine free_record(user) bind(c)
    type(c_ptr), value :: user
    type(node_record), pointer :: rec
    logical(c_bool) :: live
    call c_f_pointer(user, rec)
    if (c_associated(rec%grad_obj)) then
       call check(ds_object_live(rec%grad_obj, rec%grad_serial, live), 'array_type')
       if (live) call release_adopted(rec%grad_obj)
    end if
    deallocate(rec)
  end subroutine free_record

  subroutine store_metadata(x, h)
    type(array_type), intent(in) :: x
    type(c_ptr), intent(in) :: h
    type(node_record), pointer :: rec
    rec => record_of(h)
    if (allocated(x%indices)) then
       rec%indices = x%indices
    else if (allocated(rec%indices)) then
       deallocate(rec%indices)
    end if
    if (allocated(x%adj_ja)) then
       rec%adj_ja = x%adj_ja
    else if (allocated(rec%adj_ja)) then
       deallocate(rec%adj_ja)
    end if
    if (allocated(x%mask)) then
       rec%mask = x%mask
    else if (allocated(rec%mask)) then
       deallocate(rec%mask)
    end if
  end subroutine store_metadata

  !> Gives a variable that requires a gradient (a leaf, or a `fix_pointer` array) its gradient
  !> object: one per core array, shared by every object that uses the array and released with
  !> it, its `val` the core's gradient buffer, so that reverse mode results appear in
  !> `x%grad%val` directly. A gradient object the program put in `x%grad` itself becomes the
  !> array's gradient object, its values kept.
  module subroutine ensure_grad(p, h)
    type(array_type), intent(inout), target :: p
    type(c_ptr), intent(in) :: h
    integer(c_size_t) :: n
    if (.not. p%requires_grad) return
    call check(ds_array_num_inputs(h, n), 'grad')
    if (n /= 0 .and. .not. p%fix_pointer) return
    p%grad => grad_object(h, p%grad)
    p%owns_gradient = .true.
  end subroutine ensure_grad

  !> The gradient object of core array `h`: `given` if present (an object the program put in
  !> `x%grad` itself: it becomes the array's gradient object, its values kept, and is released
  !> with the array, as diffstruc's `owns_gradient` says), else the array's own, created (zeros)
  !> if it has none yet.
  module function grad_object(h, given) result(g)
    type(c_ptr), intent(in) :: h
    type(array_type), pointer, intent(in), optional :: given
    type(array_type), pointer :: g, old
    type(node_record), pointer :: rec
    type(c_ptr) :: gh, data
    real(c_float), pointer :: v(:,:)
    real(c_double), pointer :: v64(:,:)
    integer(c_int64_t) :: e, s
    logical(c_bool) :: live
    logical :: wide
    rec => record_of(h)
    old => null()
    if (c_associated(rec%grad_obj)) then
       call check(ds_object_live(rec%grad_obj, rec%grad_serial, live), 'grad')
       if (live) call c_f_pointer(rec%grad_obj, old)
    end if
    if (present(given)) then
       if (associated(given)) then
          if (associated(given, old)) then
             g => old
             return
          end if
          g => given
          ! the program's object: its values become the gradient's, then it holds the buffer
          wide = is_real64(h)
          call check(ds_array_extents(h, e, s), 'grad')
          if (wide) then
             call check(ds_array_grad_data_f64(h, data), 'grad')
             call c_f_pointer(data, v64, [e, s])
             if (has_values(g)) then
                if (values_size(g) /= size(v64)) call fatal('grad', 'the gradient object ' // &
                     'has ' // int_text(values_size(g)) // ' values, the array ' // &
                     int_text(size(v64)))
                if (allocated(g%val64)) then
                   v64 = reshape(g%val64, shape(v64))
                else
                   v64 = reshape(real(g%val, real64), shape(v64))
                end if
             end if
          else
             call check(ds_array_grad_data(h, data), 'grad')
             call c_f_pointer(data, v, [e, s])
             if (allocated(g%val64)) call fatal('grad', 'a real64 gradient object for a ' // &
                  'real32 array')
          end if
          if (allocated(g%val) .and. .not. wide) then
             if (size(g%val) == size(v)) then
                v = reshape(g%val, shape(v))
             else
                call fatal('grad', 'the gradient object has ' // int_text(size(g%val)) // &
                     ' values, the array ' // int_text(size(v)))
             end if
          end if
          if (.not. is_heap(g)) call register_object(g)
          call check(ds_array_grad(h, gh), 'grad')
          call bind(g, gh)
          call pull(g, gh)
          call lend_values(g)
          g%is_temporary = .false.
          rec%grad_obj = address(g)
          rec%grad_serial = g%ref%serial
          if (associated(old)) call release_adopted(address(old))
          return
       end if
    end if
    if (associated(old)) then
       g => old
       return
    end if
    wide = is_real64(h)
    if (wide) then
       call check(ds_array_grad_data_f64(h, gh), 'grad')
    else
       call check(ds_array_grad_data(h, gh), 'grad')
    end if
    call check(ds_array_grad(h, gh), 'grad')
    g => make_heap(gh)
    g%is_temporary = .false.
    rec%grad_obj = address(g)
    rec%grad_serial = g%ref%serial
  end function grad_object

!===============================================================================================
! Lifecycle
!===============================================================================================

  !> Allocates values: `array_shape` = per-sample shape followed by the batch size; `source` a
  !> real scalar (fill), a real rank-2 array (copied, (E, S)) or an array_type (copied).
  module subroutine allocate_array(this, array_shape, source, stat)
    class(array_type), intent(inout), target :: this
    integer, dimension(:), intent(in), optional :: array_shape
    class(*), dimension(..), intent(in), optional :: source
    integer, intent(out), optional :: stat
    type(outcome) :: o
    call allocate_values(this, o, array_shape, source)
    call settle(o, 'allocate', stat)
  end subroutine allocate_array

  subroutine allocate_values(this, o, array_shape, source)
    class(array_type), intent(inout), target :: this
    type(outcome), intent(inout) :: o
    integer, dimension(:), intent(in), optional :: array_shape
    class(*), dimension(..), intent(in), optional :: source
    type(array_type), pointer :: p
    integer :: n
    if (this%allocated .or. has_values(this)) then
       call refuse(o, 'Trying to allocate already allocated array values')
       return
    end if
    if (present(array_shape)) then
       n = size(array_shape)
       if (n < 1) then
          call refuse(o, 'array_shape must hold at least the batch size')
          return
       end if
       if (any(array_shape < 0)) then
          call refuse(o, 'array shape ' // extents_text(array_shape(1:n-1)) // ' with batch ' // &
               int_text(array_shape(n)) // ': negative extent')
          return
       end if
    end if
    if (present(source)) then
       select rank (source)
       rank (0)
          select type (source)
          type is (real(real32))
             if (.not. present(array_shape)) then
                call refuse(o, 'Source shape not provided')
                return
             end if
             call shape_values(this, array_shape)
             this%val = source
          type is (real(real64))
             ! an extension: a real64 array
             if (.not. present(array_shape)) then
                call refuse(o, 'Source shape not provided')
                return
             end if
             call shape_values(this, array_shape, real64_values=.true.)
             this%val64 = source
          class is (array_type)
             if (present(array_shape)) then
                if (size(array_shape) /= 2 .or. .not. allocated(source%val)) then
                   call refuse(o, 'Source shape does not match array shape')
                   return
                else if (any(array_shape /= shape(source%val))) then
                   call refuse(o, 'Source shape does not match array shape')
                   return
                end if
             end if
             call copy_object(this, source)
             this%is_temporary = .true.
             this%fix_pointer = .false.
             call push_flags(this)
             return
          class default
             call refuse(o, 'Incompatible source type for rank 0')
             return
          end select
       rank (2)
          select type (source)
          type is (real(real32))
          type is (real(real64))
          class default
             call refuse(o, 'Incompatible source type for rank 2')
             return
          end select
          if (present(array_shape)) then
             if (size(array_shape) /= 2) then
                call refuse(o, 'Source shape does not match array shape')
                return
             else if (any(array_shape /= shape(source))) then
                call refuse(o, 'Source shape does not match array shape')
                return
             end if
          end if
          select type (source)
          type is (real(real32))
             this%val = source
          type is (real(real64))
             this%val64 = source
          end select
          this%shape = [size(source, 1)]
       rank default
          call refuse(o, 'Unrecognised source rank')
          return
       end select
    else if (present(array_shape)) then
       call shape_values(this, array_shape)
       this%val = 0.0_real32
    else
       call refuse(o, 'No shape or source provided')
       return
    end if
    this%rank = 1
    this%size = product(this%shape)
    this%allocated = .true.
    ! the core array now, so that an array later shared by threads is never bound by two at
    ! once (an empty array has none)
    if (values_size(this) > 0) then
       p => this
       call bind(p, new_leaf(p, 'allocate'))
       call push_flags(p)
    end if
  end subroutine allocate_values

  !> Allocates `val` (or, with `real64_values`, `val64`) for `array_shape` (per-sample shape,
  !> then the batch size) and sets `shape`.
  subroutine shape_values(this, array_shape, real64_values)
    class(array_type), intent(inout) :: this
    integer, dimension(:), intent(in) :: array_shape
    logical, intent(in), optional :: real64_values
    integer :: n
    n = size(array_shape)
    this%shape = array_shape(1:n-1)
    if (present(real64_values)) then
       if (real64_values) then
          allocate(this%val64(product(array_shape(1:n-1)), array_shape(n)))
          return
       end if
    end if
    allocate(this%val(product(array_shape(1:n-1)), array_shape(n)))
  end subroutine shape_values

  !> Releases this object's storage. The core keeps the array alive while a graph uses it.
  module subroutine deallocate_array(this, keep_shape)
    class(array_type), intent(inout), target :: this
    logical, intent(in), optional :: keep_shape
    logical :: keep
    type(array_type), pointer :: p
    keep = .false.
    if (present(keep_shape)) keep = keep_shape
    p => this
    call unbind(p)
    ! the gradient object belongs to the core array, released now if nothing else uses it
    this%grad => null()
    if (allocated(this%val)) deallocate(this%val)
    if (allocated(this%val64)) deallocate(this%val64)
    if (allocated(this%indices)) deallocate(this%indices)
    if (allocated(this%adj_ja)) deallocate(this%adj_ja)
    if (allocated(this%mask)) deallocate(this%mask)
    if (allocated(this%direction)) deallocate(this%direction)
    if (.not. keep .and. allocated(this%shape)) deallocate(this%shape)
    this%allocated = .false.
    this%size = 0
  end subroutine deallocate_array

  !> Value assignment, as in diffstruc: `this` takes `input`'s values, flags, metadata and
  !> operand links; here it becomes a new core array linked to the same inputs as `input`'s
  !> (gradients flow through it to them), independent of `input` from now on. A temporary
  !> operation result on the right belongs to `this` afterwards (it is retired when `this`
  !> lets it go: kept intact for a while, in case the program still uses it by name).
  !> `this` is intent(inout), not intent(out) as in diffstruc: an operation result assigned to
  !> (`f => x*2; f = y`) stays this module's heap object (released by `deallocate(f)` or by
  !> its consumer, as before); the components intent(out) would reset are reset here.
  module recursive subroutine assign_array(this, input)
    class(array_type), intent(inout), target :: this
    type(array_type), intent(in), target :: input
    ! y = y: nothing changes (as for intrinsic assignment). The compiler may pass the right
    ! side as a shallow copy of y (it is an expression in parentheses): same token, same val
    if (same_object(this, input)) return
    call reset_components(this)
    call copy_object(this, input)
    this%is_temporary = .true.
    this%fix_pointer = .false.
    call push_flags(this)
  end subroutine assign_array

  !> True if `b` is `a` or a shallow copy of it (the same token or the same `val` storage).
  logical function same_object(a, b)
    class(array_type), intent(in), target :: a
    class(array_type), intent(in), target :: b
    type(c_ptr) :: pa, pb
    pa = address(a)
    pb = address(b)
    same_object = c_associated(pa, pb)
    if (same_object) return
    if (allocated(a%ref) .and. allocated(b%ref)) then
       pa = c_loc(a%ref)
       pb = c_loc(b%ref)
       same_object = c_associated(pa, pb)
       if (same_object) return
    end if
    if (allocated(a%val) .and. allocated(b%val)) then
       if (size(a%val) > 0 .and. size(b%val) > 0) then
          pa = c_loc(a%val(1, 1))
          pb = c_loc(b%val(1, 1))
          same_object = c_associated(pa, pb)
       end if
    end if
    if (allocated(a%val64) .and. allocated(b%val64)) then
       if (size(a%val64) > 0 .and. size(b%val64) > 0) then
          pa = c_loc(a%val64(1, 1))
          pb = c_loc(b%val64(1, 1))
          same_object = c_associated(pa, pb)
       end if
    end if
  end function same_object

  !> Makes `this` a copy of `source`: diffstruc's fields, and a core array of its own (a clone
  !> of `source`'s), its values in `val` (lent if `this` is a heap object).
  subroutine copy_object(this, source)
    class(array_type), intent(inout), target :: this
    class(array_type), intent(in), target :: source
    type(array_type), pointer :: p
    type(c_ptr) :: hs, h
    logical :: heap_target
    p => this
    heap_target = is_heap(p)
    ! the clone first: `source` may be a compiler's copy of `this` (y = y), which stands for
    ! this's array only while `this` still has it
    h = c_null_ptr
    if (has_values(source)) then
       if (values_size(source) > 0) then
          h = copy_of_copy(source)
          if (.not. c_associated(h)) then
             hs = operand(source, 'assignment(=)')
             call check(ds_array_clone(hs, h), 'assignment(=)')
             call adopt_temporary(h, source, retire=.true.)
          end if
       end if
    end if
    call unbind(p)
    call copy_fields(p, source)
    p%grad => null()
    if (.not. has_values(source)) then
       if (allocated(p%val)) deallocate(p%val)
       if (allocated(p%val64)) deallocate(p%val64)
       return
    end if
    if (values_size(source) == 0) then
       if (allocated(source%val64)) then
          p%val64 = source%val64
       else
          p%val = source%val
       end if
       return
    end if
    call bind(p, h)
    if (heap_target) then
       call lend_values(p)
    else
       call copy_values(p, h)
    end if
  end subroutine copy_object

  !> For a source that is a compiler's copy differing from its original (or outliving it): a new
  !> core array with the copy's values (a clone linked to the original's inputs while that is
  !> alive, else a new leaf), not bound to the copy, which may be a temporary no one finalises
  !> (flang's right side of a defined assignment). NULL for any other source.
  function copy_of_copy(source) result(h)
    class(array_type), intent(in), target :: source
    type(c_ptr) :: h
    type(array_type), pointer :: p
    logical(c_bool) :: live
    integer(c_int64_t) :: e, s
    h = c_null_ptr
    p => original_of(source)
    if (.not. allocated(p%ref)) return
    if (.not. c_associated(p%ref%h)) return
    if (is_heap(p) .or. is_owner(p)) return
    call check(ds_array_is_live(p%ref%h, live), 'assignment(=)')
    if (live) then
       if (matches(p, p%ref%h)) return
       call check(ds_array_extents(p%ref%h, e, s), 'assignment(=)')
       if (values_extent(p, 1) == e .and. values_extent(p, 2) == s .and. &
            (allocated(p%val64) .eqv. p%ref%wide)) then
          call check(ds_array_clone(p%ref%h, h), 'assignment(=)')
          call push_values(p, h, 'assignment(=)')
          return
       end if
    end if
    h = new_leaf(p, 'assignment(=)')
  end function copy_of_copy

  !> Resets what an assignment does not copy to its defaults (what intent(out) would do).
  subroutine reset_components(this)
    class(array_type), intent(inout) :: this
    if (allocated(this%indices)) deallocate(this%indices)
    if (allocated(this%adj_ja)) deallocate(this%adj_ja)
    if (allocated(this%mask)) deallocate(this%mask)
    if (allocated(this%direction)) deallocate(this%direction)
    this%grad => null()
    this%fix_pointer = .false.
    this%registering = .false.
    this%original = c_null_ptr
  end subroutine reset_components

  !> Copies diffstruc's value-assignment fields (not the binding, not the gradient object).
  subroutine copy_fields(this, input)
    type(array_type), intent(inout) :: this
    class(array_type), intent(in), target :: input
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
    if (allocated(input%shape)) then
       this%shape = input%shape
    else if (allocated(this%shape)) then
       deallocate(this%shape)
    end if
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
  !> claim the gradient (`owns_gradient = .false.`). `source` may be an extension of array_type.
  module subroutine assign_shallow(this, source)
    class(array_type), intent(inout), target :: this
    class(array_type), intent(in), target :: source
    logical :: temporary
    temporary = source%is_temporary
    call copy_object(this, source)
    this%is_temporary = temporary
    this%owns_gradient = .false.
    call push_flags(this)
  end subroutine assign_shallow

  !> `this = source`, then the source object is released and `source` disassociated. The core
  !> array moves to `this` when `source` owns it (no copy of the graph).
  module subroutine assign_and_deallocate_source(this, source, owns_left_operand, &
       owns_right_operand)
    class(array_type), intent(inout), target :: this
    type(array_type), pointer, intent(inout) :: source
    logical, intent(in), optional :: owns_left_operand, owns_right_operand
    logical(c_bool) :: taken
    type(c_ptr) :: hs
    if (.not. associated(source)) call fatal('assign_and_deallocate_source', 'source is null')
    if (present(owns_left_operand)) source%owns_left_operand = owns_left_operand
    if (present(owns_right_operand)) source%owns_right_operand = owns_right_operand
    taken = .false.
    if (has_values(source)) then
       if (values_size(source) > 0) then
          hs = operand(source, 'assign_and_deallocate_source')
          call return_values(source)
          if (is_owner(source)) call check(ds_binding_take(c_loc(source%ref), hs, taken), &
               'assign_and_deallocate_source')
       end if
    end if
    if (taken) then
       source%ref%h = c_null_ptr
       call move_into(this, source, hs)
    else
       call copy_object(this, source)
    end if
    this%is_temporary = .true.
    call push_flags(this)
    deallocate(source)
    source => null()
  end subroutine assign_and_deallocate_source

  !> `this` takes over core array `h` (already taken from `source`) and `source`'s fields.
  subroutine move_into(this, source, h)
    class(array_type), intent(inout), target :: this
    type(array_type), intent(inout), target :: source
    type(c_ptr), intent(in) :: h
    type(array_type), pointer :: p
    logical :: heap_target
    p => this
    heap_target = is_heap(p)
    call unbind(p)
    call copy_fields(p, source)
    call bind(p, h)
    if (heap_target) then
       call lend_values(p)
    else if (allocated(source%val64)) then
       ! the source's own copy of the values (it was not the core's buffer)
       if (allocated(p%val)) deallocate(p%val)
       call move_alloc(source%val64, p%val64)
    else if (allocated(source%val)) then
       if (allocated(p%val64)) deallocate(p%val64)
       call move_alloc(source%val, p%val)
    else
       call copy_values(p, h)
    end if
    p%grad => null()
  end subroutine move_into

  !> A new result of `array_shape` (per-sample shape followed by the batch size; default: this
  !> array's shape and batch), inheriting `is_scalar`, `is_sample_dependent` and `is_forward`.
  !> Its values are zeros.
  module function create_result(this, array_shape) result(c)
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
       if (.not. has_values(this)) call fatal('create_result', 'the array is not allocated')
       if (allocated(this%shape)) then
          shp = int(this%shape, c_int64_t)
       else
          shp = [int(values_extent(this, 1), c_int64_t)]
       end if
       batch = int(values_extent(this, 2), c_int64_t)
    end if
    ! (custom operations, which use create_result, take real32 arrays: the core refuses others)
    call require_real32(this, 'create_result')
    if (batch == 0 .or. any(shp == 0)) then
       ! an empty result: no core array
       c => new_object()
       c%shape = int(shp)
       allocate(c%val(product(shp), batch))
       c%allocated = .true.
    else
       call check(ds_array_create(shp, size(shp, kind=c_size_t), batch, h), 'create_result')
       c => make_heap(h)
    end if
    c%is_scalar = this%is_scalar
    c%is_sample_dependent = this%is_sample_dependent
    c%is_forward = this%is_forward
  end function create_result

end submodule diffstruc_objects
