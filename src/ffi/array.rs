//! Creating, wrapping, freeing and inspecting arrays; zero-copy access to values and gradients.

use super::any::{each, map, Array, Elem};
use super::handle::{self, ds_array};
use super::status::{boundary, boundary_value, ds_status, non_null, write_out};
use crate::core::{alloc, Dtype, Error, Result, Tensor};

/// Element type of an array (`ds_array_dtype`).
pub type ds_dtype = i32;
/// `float`, Fortran `real(real32)`: the default.
pub const DS_REAL32: ds_dtype = 1;
/// `double`, Fortran `real(real64)`: arrays created by the `_f64` functions.
pub const DS_REAL64: ds_dtype = 2;

/// Selects a flag for `ds_array_get_flag` / `ds_array_set_flag`.
pub type ds_flag = i32;
/// Gradients flow to and through the array (`requires_grad`).
pub const DS_FLAG_REQUIRES_GRAD: ds_flag = 1;
/// One value set per sample (`is_sample_dependent`); false for values shared by the batch.
pub const DS_FLAG_SAMPLE_DEPENDENT: ds_flag = 2;
/// The array stands for a single number (`is_scalar`).
pub const DS_FLAG_SCALAR: ds_flag = 3;
/// The array was produced by forward mode (`is_forward`).
pub const DS_FLAG_FORWARD: ds_flag = 4;
/// diffstruc's `is_temporary` hint (recorded as `owns_*` by consumers; never decides lifetime).
pub const DS_FLAG_TEMPORARY: ds_flag = 5;
/// Reverse mode also keeps this intermediate array's gradient.
pub const DS_FLAG_RETAIN_GRAD: ds_flag = 6;
/// diffstruc's `fix_pointer`: the gradient is zeroed at the start of every reverse pass.
pub const DS_FLAG_FIXED: ds_flag = 7;

/// Reads a C shape (`rank` extents) into sizes, rejecting NULL and negative values.
pub(crate) fn read_shape(
    shape: *const i64,
    rank: usize,
    batch: i64,
) -> Result<(Vec<usize>, usize)> {
    if rank > 0 {
        non_null(shape, "shape")?;
    }
    let raw: &[i64] = if rank == 0 {
        &[]
    } else {
        // SAFETY: non-null checked; the caller provides `rank` extents.
        unsafe { std::slice::from_raw_parts(shape, rank) }
    };
    let to_size = |v: i64| {
        usize::try_from(v).map_err(|_| {
            Error::argument(format!(
                "array shape {raw:?} with batch {batch}: negative extent"
            ))
        })
    };
    let dims = raw
        .iter()
        .map(|&v| to_size(v))
        .collect::<Result<Vec<_>>>()?;
    Ok((dims, to_size(batch)?))
}

fn new_handle(t: impl Into<Array>, out: *mut *mut ds_array) -> Result<()> {
    non_null(out, "out")?;
    write_out(out, handle::insert(t), "out")
}

fn full<T: Elem>(
    shape: *const i64,
    rank: usize,
    batch: i64,
    value: f64,
    out: *mut *mut ds_array,
) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let (s, b) = read_shape(shape, rank, batch)?;
        new_handle(T::wrap(Tensor::full(&s, b, T::from_f64(value))?), out)
    })
}

/// Creates a zero-filled `float` array of per-sample `shape` (`rank` extents; rank 0 means a
/// single element per sample) and `batch` samples.
///
/// Errors: DS_ERR_ARGUMENT for a zero or negative extent; DS_ERR_NULL for NULL pointers.
#[no_mangle]
pub extern "C" fn ds_array_create(
    shape: *const i64,
    rank: usize,
    batch: i64,
    out: *mut *mut ds_array,
) -> ds_status {
    full::<f32>(shape, rank, batch, 0.0, out)
}

/// `ds_array_create` for a `double` (real64) array.
#[no_mangle]
pub extern "C" fn ds_array_create_f64(
    shape: *const i64,
    rank: usize,
    batch: i64,
    out: *mut *mut ds_array,
) -> ds_status {
    full::<f64>(shape, rank, batch, 0.0, out)
}

/// Creates a `float` array filled with `value` (rounded to `float`).
#[no_mangle]
pub extern "C" fn ds_array_full(
    shape: *const i64,
    rank: usize,
    batch: i64,
    value: f64,
    out: *mut *mut ds_array,
) -> ds_status {
    full::<f32>(shape, rank, batch, value, out)
}

/// Creates a `double` array filled with `value`.
#[no_mangle]
pub extern "C" fn ds_array_full_f64(
    shape: *const i64,
    rank: usize,
    batch: i64,
    value: f64,
    out: *mut *mut ds_array,
) -> ds_status {
    full::<f64>(shape, rank, batch, value, out)
}

fn from_data<T: Elem>(
    shape: *const i64,
    rank: usize,
    batch: i64,
    data: *const T,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        non_null(data, "data")?;
        let (s, b) = read_shape(shape, rank, batch)?;
        // SAFETY: non-null checked; the caller provides `len` readable values.
        let v = unsafe { std::slice::from_raw_parts(data, len) };
        let v = alloc::guard(
            || format!("array_from_data (shape {s:?} with batch {b})"),
            || Ok(crate::core::pool::copy(v)),
        )?;
        new_handle(T::wrap(Tensor::from_vec(&s, b, v)?), out)
    })
}

/// Creates a `float` array by copying `len` values from `data` (column-major `(E, S)`; `len`
/// must be `E * S`). The caller keeps ownership of `data`.
#[no_mangle]
pub extern "C" fn ds_array_from_data(
    shape: *const i64,
    rank: usize,
    batch: i64,
    data: *const f32,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    from_data(shape, rank, batch, data, len, out)
}

/// `ds_array_from_data` for `double` values (a real64 array).
#[no_mangle]
pub extern "C" fn ds_array_from_data_f64(
    shape: *const i64,
    rank: usize,
    batch: i64,
    data: *const f64,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    from_data(shape, rank, batch, data, len, out)
}

fn wrap<T: Elem>(
    shape: *const i64,
    rank: usize,
    batch: i64,
    data: *mut T,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        non_null(data, "data")?;
        let (s, b) = read_shape(shape, rank, batch)?;
        let e: usize = s.iter().product();
        if e.checked_mul(b) != Some(len) {
            return Err(Error::shape(format!(
                "wrap: array shape {s:?} with batch {b} needs {} values, buffer has {len}",
                e.saturating_mul(b)
            )));
        }
        // SAFETY: forwarded to the caller under the lifetime rule of `ds_array_wrap`.
        let t = unsafe { Tensor::from_raw(data, &s, b)? };
        new_handle(T::wrap(t), out)
    })
}

/// Wraps the caller's `float` buffer as an array **without copying** (like a "from_blob"): the
/// array reads and writes `data` in place.
///
/// Lifetime rule: `data` must hold `len = E * S` values and stay valid until the array node is
/// freed, i.e. until the handle returned here, every other handle to it, and every result
/// computed from it (which may keep it alive as a graph input) have been freed or had their graph
/// nullified. The library never frees `data`.
#[no_mangle]
pub extern "C" fn ds_array_wrap(
    shape: *const i64,
    rank: usize,
    batch: i64,
    data: *mut f32,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    wrap(shape, rank, batch, data, len, out)
}

/// `ds_array_wrap` for a `double` buffer (a real64 array), under the same lifetime rule.
#[no_mangle]
pub extern "C" fn ds_array_wrap_f64(
    shape: *const i64,
    rank: usize,
    batch: i64,
    data: *mut f64,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    wrap(shape, rank, batch, data, len, out)
}

/// The array's element type: `DS_REAL32` or `DS_REAL64`.
#[no_mangle]
pub extern "C" fn ds_array_dtype(a: *const ds_array, dtype: *mut ds_dtype) -> ds_status {
    boundary(|| {
        let d = match handle::get(a, "a")?.dtype() {
            Dtype::F32 => DS_REAL32,
            Dtype::F64 => DS_REAL64,
        };
        write_out(dtype, d, "dtype")
    })
}

/// Creates a second handle to the same array (both must be freed). Used for value copies.
#[no_mangle]
pub extern "C" fn ds_array_share(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let t = handle::get(a, "a")?;
        new_handle(t, out)
    })
}

/// Creates a new leaf array with a copy of `a`'s values and shape, and its `is_sample_dependent`
/// and `is_scalar` flags (no graph, no gradient, `requires_grad` false).
#[no_mangle]
pub extern "C" fn ds_array_copy(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let c = map!(handle::get(a, "a")?, t => {
            let v = alloc::guard(
                || format!("array_copy ({})", crate::ops::describe(&t)),
                || Ok(t.to_vec()),
            )?;
            let c = Tensor::from_vec(t.shape(), t.batch(), v)?;
            c.set_sample_dependent(t.is_sample_dependent());
            c.set_scalar(t.is_scalar());
            c
        });
        new_handle(c, out)
    })
}

/// Releases a handle. The array's memory is released when nothing else (another handle, or a
/// result computed from it) refers to it. Freeing in any order is safe; a second free of the same
/// handle returns DS_ERR_HANDLE.
#[no_mangle]
pub extern "C" fn ds_array_free(a: *mut ds_array) -> ds_status {
    boundary(|| handle::remove(a, "a"))
}

/// Number of array nodes alive in the process (values, gradients and graph intermediates).
/// Returns to zero once every handle is freed; tests use it to prove nothing leaked.
#[no_mangle]
pub extern "C" fn ds_live_arrays() -> usize {
    boundary_value(0, crate::core::live_nodes)
}

/// Number of live handles (created and not yet freed).
#[no_mangle]
pub extern "C" fn ds_live_handles() -> usize {
    boundary_value(0, handle::live)
}

/// Writes the per-sample shape into `shape` (capacity `capacity` extents) and its rank into
/// `rank`. With `shape` NULL only `rank` is written; a buffer too small for the rank gives
/// DS_ERR_ARGUMENT (with `rank` written, so the caller can retry).
#[no_mangle]
pub extern "C" fn ds_array_shape(
    a: *const ds_array,
    shape: *mut i64,
    capacity: usize,
    rank: *mut usize,
) -> ds_status {
    boundary(|| {
        // (the shape is read in place: no copy, no reference taken)
        handle::with(a, "a", |t| {
            let s = each!(t, t => t.shape());
            write_out(rank, s.len(), "rank")?;
            if shape.is_null() {
                return Ok(());
            }
            if capacity < s.len() {
                return Err(Error::argument(format!(
                    "shape buffer holds {capacity} extents, the array has rank {}",
                    s.len()
                )));
            }
            for (i, &v) in s.iter().enumerate() {
                // SAFETY: capacity checked; the caller provides `capacity` writable extents.
                unsafe { shape.add(i).write(v as i64) };
            }
            Ok(())
        })?
    })
}

/// Writes the storage extents: `elements` = E (values per sample), `batch` = S.
/// Either pointer may be NULL if not wanted.
#[no_mangle]
pub extern "C" fn ds_array_extents(
    a: *const ds_array,
    elements: *mut i64,
    batch: *mut i64,
) -> ds_status {
    boundary(|| {
        let (e, b) = handle::with(a, "a", |t| (t.elems(), t.batch()))?;
        if !elements.is_null() {
            write_out(elements, e as i64, "elements")?;
        }
        if !batch.is_null() {
            write_out(batch, b as i64, "batch")?;
        }
        Ok(())
    })
}

/// What a data accessor does besides returning the pointer.
#[derive(Clone, Copy, PartialEq)]
enum Access {
    Read,
    Write,
}

fn data<T: Elem>(a: *const ds_array, data: *mut *mut T, access: Access, what: &str) -> ds_status {
    boundary(|| {
        non_null(data, "data")?;
        let arr = handle::get(a, "a")?;
        let t = arr.typed::<T>(what)?;
        if access == Access::Write {
            t.mark_modified();
        }
        write_out(data, t.data_ptr(), "data")
    })
}

/// Zero-copy access to the values of a `float` array: `*data` points to `E * S` floats,
/// column-major `(E, S)`, valid until the array is freed (its address never changes).
///
/// This is the **read** accessor (kept with its old signature for compatibility): taking the
/// pointer does not count as a write. If you write through it, call `ds_array_mark_written`
/// afterwards (or take the pointer with `ds_array_data_mut` instead); otherwise a graph built
/// from the old values cannot tell, and its derivatives mix old and new values. Do not write
/// while an operation on this array runs on another thread. DS_ERR_TYPE for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_data(a: *const ds_array, data: *mut *mut f32) -> ds_status {
    self::data(a, data, Access::Read, "ds_array_data")
}

/// `ds_array_data` for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_data_f64(a: *const ds_array, data: *mut *mut f64) -> ds_status {
    self::data(a, data, Access::Read, "ds_array_data")
}

/// Read-only zero-copy access to the values (as `ds_array_data`, with a `const` pointer).
#[no_mangle]
pub extern "C" fn ds_array_data_const(a: *const ds_array, data: *mut *const f32) -> ds_status {
    self::data(
        a,
        data.cast::<*mut f32>(),
        Access::Read,
        "ds_array_data_const",
    )
}

/// `ds_array_data_const` for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_data_const_f64(a: *const ds_array, data: *mut *const f64) -> ds_status {
    self::data(
        a,
        data.cast::<*mut f64>(),
        Access::Read,
        "ds_array_data_const",
    )
}

/// Writable zero-copy access to the values (same pointer as `ds_array_data`). Counts as a write:
/// it increments the array's version, so differentiating a graph that used the old values fails
/// with `DS_ERR_MODIFIED` instead of mixing old and new values. Writes made later through a
/// pointer kept from an earlier call are not seen: take the pointer again (or call
/// `ds_array_mark_written`) each time you write.
#[no_mangle]
pub extern "C" fn ds_array_data_mut(a: *const ds_array, data: *mut *mut f32) -> ds_status {
    self::data(a, data, Access::Write, "ds_array_data_mut")
}

/// `ds_array_data_mut` for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_data_mut_f64(a: *const ds_array, data: *mut *mut f64) -> ds_status {
    self::data(a, data, Access::Write, "ds_array_data_mut")
}

/// Declares that the array's values were written (or are about to be) where the library cannot
/// see it: through a pointer from `ds_array_data`, in a buffer wrapped by `ds_array_wrap` or
/// lent by `ds_array_lend`. Increments the version (see `ds_array_data_mut`). A language layer
/// calls this whenever it gives its program write access to the values.
#[no_mangle]
pub extern "C" fn ds_array_mark_written(a: *const ds_array) -> ds_status {
    boundary(|| {
        handle::get(a, "a")?.mark_modified();
        Ok(())
    })
}

/// The version of the array's values: incremented by every write the library sees
/// (`ds_array_data_mut`, `ds_array_mark_written`; not `ds_array_sync`, a language layer's copy-in).
/// Operations record it for the arrays their derivatives need; reverse and forward mode fail
/// with `DS_ERR_MODIFIED` when it has changed since. It wraps around after 2^32 writes.
#[no_mangle]
pub extern "C" fn ds_array_version(a: *const ds_array, version: *mut u32) -> ds_status {
    boundary(|| {
        non_null(version, "version")?;
        let t = handle::get(a, "a")?;
        write_out(version, t.version(), "version")
    })
}

fn grad_data<T: Elem>(a: *const ds_array, data: *mut *mut T) -> ds_status {
    boundary(|| {
        non_null(data, "data")?;
        let arr = handle::get(a, "a")?;
        let t = arr.typed::<T>("ds_array_grad_data")?;
        let g = alloc::guard(
            || format!("array_grad_data (a zero gradient for {})", arr.describe()),
            || Ok(t.grad_or_zeros()),
        )?;
        write_out(data, g.data_ptr(), "data")
    })
}

/// Zero-copy access to the gradient buffer of a `float` array (same extents as the values).
/// The gradient is created, filled with zeros, if the array has none yet, so its address can
/// be taken before reverse mode runs; reverse mode then accumulates into this same buffer.
#[no_mangle]
pub extern "C" fn ds_array_grad_data(a: *const ds_array, data: *mut *mut f32) -> ds_status {
    grad_data(a, data)
}

/// `ds_array_grad_data` for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_grad_data_f64(a: *const ds_array, data: *mut *mut f64) -> ds_status {
    grad_data(a, data)
}

/// A new handle to the array's gradient (an array with the same extents), or NULL in `*out` if
/// it has none. The handle must be freed.
#[no_mangle]
pub extern "C" fn ds_array_grad(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let t = handle::get(a, "a")?;
        let h = t.grad().map_or(std::ptr::null_mut(), handle::insert);
        write_out(out, h, "out")
    })
}

/// The bit of a flag in the `ds_array_flags` mask: `1 << (flag - 1)`.
fn flag_bit(flag: ds_flag) -> Result<u32> {
    match flag {
        DS_FLAG_REQUIRES_GRAD..=DS_FLAG_FIXED => Ok(1 << (flag - 1)),
        _ => Err(Error::argument(format!("unknown flag {flag}"))),
    }
}

/// Reads one flag (`DS_FLAG_*`).
#[no_mangle]
pub extern "C" fn ds_array_get_flag(
    a: *const ds_array,
    flag: ds_flag,
    value: *mut bool,
) -> ds_status {
    boundary(|| {
        let bit = flag_bit(flag)?;
        let t = handle::get(a, "a")?;
        write_out(value, t.flag_bits() & bit != 0, "value")
    })
}

/// Sets one flag (`DS_FLAG_*`). Results computed earlier are not changed.
#[no_mangle]
pub extern "C" fn ds_array_set_flag(a: *const ds_array, flag: ds_flag, value: bool) -> ds_status {
    boundary(|| {
        let bit = flag_bit(flag)?;
        let t = handle::get(a, "a")?;
        t.set_flag_bits(bit, if value { bit } else { 0 });
        Ok(())
    })
}

/// Reads every flag at once as a mask: bit `n - 1` is flag `DS_FLAG_*` number `n`.
#[no_mangle]
pub extern "C" fn ds_array_flags(a: *const ds_array, flags: *mut u32) -> ds_status {
    boundary(|| write_out(flags, handle::with(a, "a", Array::flag_bits)?, "flags"))
}

/// Sets the flags selected by `mask` to the corresponding bits of `values` (same bit layout as
/// `ds_array_flags`); other flags are unchanged.
#[no_mangle]
pub extern "C" fn ds_array_set_flags(a: *const ds_array, mask: u32, values: u32) -> ds_status {
    boundary(|| handle::with(a, "a", |t| t.set_flag_bits(mask, values)))
}

fn set_direction<T: Elem>(a: *const ds_array, direction: *const T, len: usize) -> ds_status {
    boundary(|| {
        non_null(direction, "direction")?;
        let arr = handle::get(a, "a")?;
        let t = arr.typed::<T>("ds_array_set_direction")?;
        // SAFETY: non-null checked; the caller provides `len` readable values.
        let d = unsafe { std::slice::from_raw_parts(direction, len) };
        t.set_direction(d)
    })
}

/// Sets the forward-mode direction (seed) of a `float` array: `len` = E values shared by every
/// sample, or `len` = E * S values, one set per sample.
#[no_mangle]
pub extern "C" fn ds_array_set_direction(
    a: *const ds_array,
    direction: *const f32,
    len: usize,
) -> ds_status {
    set_direction(a, direction, len)
}

/// `ds_array_set_direction` for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_set_direction_f64(
    a: *const ds_array,
    direction: *const f64,
    len: usize,
) -> ds_status {
    set_direction(a, direction, len)
}

/// Removes the direction: forward mode then seeds with ones.
#[no_mangle]
pub extern "C" fn ds_array_clear_direction(a: *const ds_array) -> ds_status {
    boundary(|| {
        handle::get(a, "a")?.clear_direction();
        Ok(())
    })
}

/// Writes `*same = true` if both handles refer to the same array node.
#[no_mangle]
pub extern "C" fn ds_array_same(
    a: *const ds_array,
    b: *const ds_array,
    same: *mut bool,
) -> ds_status {
    boundary(|| {
        let (x, y) = (handle::get(a, "a")?, handle::get(b, "b")?);
        write_out(same, x.same(&y), "same")
    })
}
