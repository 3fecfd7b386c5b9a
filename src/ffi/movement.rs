//! Data movement and selection: `spread`, `unspread`, the padded `sum`, `concat`, slices and
//! trims, index selection, `pack`, `unpack`, `reshape` and `merge`.
//!
//! As in diffstruc, `dim` is a storage dimension (1: the elements of each sample, 2: the batch)
//! and every position (`index`, `indices`, `new_dim_index`) is **1-based**, so that numbers
//! carry over unchanged from Fortran programs. Masks are arrays of C `bool` (any non-zero byte
//! is true).

use super::any::{map, map2, Array, Elem};
use super::handle::{self, ds_array};
use super::ops::{emit, scalar, slice};
use super::status::{ds_status, non_null};
use crate::core::{Error, Result};
use crate::ops::movement::{self as mv, Cut};

/// `n` values at `p` (NULL allowed when `n` is 0).
fn list<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    non_null(p, what)?;
    // SAFETY: non-null checked; the caller provides `n` readable values.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// A count or 1-based position; negative values are refused here, zero and values beyond the
/// range by the operation (with the valid range in the message).
fn count(v: i64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::argument(format!("{what} = {v} must not be negative")))
}

fn positions(p: *const i64, n: usize, what: &str) -> Result<Vec<usize>> {
    list(p, n, what)?.iter().map(|&v| count(v, what)).collect()
}

/// Runs operation `op` like `emit`, naming the operation in every error message (including the
/// argument checks made here, before the operation runs).
fn named(op: &str, out: *mut *mut ds_array, f: impl FnOnce() -> Result<Array>) -> ds_status {
    emit(out, || {
        crate::core::alloc::guard(|| op.to_string(), f).map_err(|e| {
            if e.message().starts_with(op) {
                e
            } else {
                Error::new(e.kind(), format!("{op}: {}", e.message()))
            }
        })
    })
}

fn mask(p: *const bool, n: usize) -> Result<Vec<bool>> {
    // Read as bytes: a C caller may pass any non-zero byte for true.
    Ok(list(p.cast::<u8>(), n, "mask")?
        .iter()
        .map(|&b| b != 0)
        .collect())
}

/// `spread(source, dim, index, ncopies)`: `dim` 1: `ncopies` copies of element `index` of each
/// sample (result `[ncopies]`, same batch); `dim` 2: `ncopies` copies of sample `index` (result
/// batch `ncopies`).
#[no_mangle]
pub extern "C" fn ds_spread(
    source: *const ds_array,
    dim: i32,
    index: i64,
    ncopies: i64,
    out: *mut *mut ds_array,
) -> ds_status {
    named("spread", out, || {
        let arr = handle::get(source, "source")?;
        Ok(map!(arr, t => mv::spread(
            &t,
            dim.into(),
            count(index, "index")?,
            count(ncopies, "ncopies")?,
        )?))
    })
}

/// `unspread(source, index, dim, new_size)`, the adjoint of `spread`: `dim` 1: result
/// `[new_size]`, zeros except element `index` = the sum of each sample; `dim` 2: result batch
/// `new_size`, zeros except sample `index` = the sum over the batch.
#[no_mangle]
pub extern "C" fn ds_unspread(
    source: *const ds_array,
    index: i64,
    dim: i32,
    new_size: i64,
    out: *mut *mut ds_array,
) -> ds_status {
    named("unspread", out, || {
        let arr = handle::get(source, "source")?;
        Ok(map!(arr, t => mv::unspread(
            &t,
            count(index, "index")?,
            dim.into(),
            count(new_size, "new_size")?,
        )?))
    })
}

/// `sum(a, dim, new_dim_index, new_dim_size)` (`sum_and_pad_array`): the sum along `dim` placed
/// at position `new_dim_index` of a new dimension of `new_dim_size`, zeros elsewhere.
#[no_mangle]
pub extern "C" fn ds_sum_pad(
    a: *const ds_array,
    dim: i32,
    new_dim_index: i64,
    new_dim_size: i64,
    out: *mut *mut ds_array,
) -> ds_status {
    named("sum_and_pad_array", out, || {
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::sum_pad(
            &t,
            dim.into(),
            count(new_dim_index, "new_dim_index")?,
            count(new_dim_size, "new_dim_size")?,
        )?))
    })
}

/// `concat(a, b, dim)`: `dim` 1 joins each sample along its last dimension (the others must
/// agree; a one-sample operand is shared by the batch); `dim` 2 joins the batches (same number
/// of elements per sample).
#[no_mangle]
pub extern "C" fn ds_concat(
    a: *const ds_array,
    b: *const ds_array,
    dim: i32,
    out: *mut *mut ds_array,
) -> ds_status {
    named("concat", out, || {
        let (a1, a2) = (handle::get(a, "a")?, handle::get(b, "b")?);
        Ok(map2!("concat", a1, a2, (x, y) => mv::concat(&x, &y, dim.into())?))
    })
}

/// Slice code for `ds_slice`.
pub type ds_slice_kind = i32;
/// `slice_left(a, b, dim)`: the first `b` positions.
pub const DS_SLICE_LEFT: ds_slice_kind = 1;
/// `slice_right(a, b, dim)`: the last `b` positions.
pub const DS_SLICE_RIGHT: ds_slice_kind = 2;
/// `ltrim(a, b, dim)`: all but the first `b` positions.
pub const DS_LTRIM: ds_slice_kind = 3;
/// `rtrim(a, b, dim)`: all but the last `b` positions.
pub const DS_RTRIM: ds_slice_kind = 4;

/// `slice_left`, `slice_right`, `ltrim` or `rtrim` (`kind`) of `a` by `b` along `dim` (1: the
/// elements of each sample, result `[count]`; 2: the batch). At least one position must remain.
#[no_mangle]
pub extern "C" fn ds_slice(
    kind: ds_slice_kind,
    a: *const ds_array,
    b: i64,
    dim: i32,
    out: *mut *mut ds_array,
) -> ds_status {
    let (name, cut) = match kind {
        DS_SLICE_LEFT => ("slice_left", Some(Cut::SliceLeft)),
        DS_SLICE_RIGHT => ("slice_right", Some(Cut::SliceRight)),
        DS_LTRIM => ("ltrim", Some(Cut::LTrim)),
        DS_RTRIM => ("rtrim", Some(Cut::RTrim)),
        _ => ("slice", None),
    };
    named(name, out, || {
        let cut = cut.ok_or_else(|| Error::argument(format!("unknown slice code {kind}")))?;
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::cut(cut, &t, count(b, "b")?, dim.into())?))
    })
}

/// `a .index. indices`: sample `s` of the result is sample `indices[s]` of `a` (`n` samples,
/// result shape `[E]`).
#[no_mangle]
pub extern "C" fn ds_index(
    a: *const ds_array,
    indices: *const i64,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    named("index", out, || {
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::index(&t, &positions(indices, n, "indices")?)?))
    })
}

/// `reverse_index(a, indices, from, new_index_size)`: a batch of `new_index_size` zero samples;
/// with `from`, sample `s` = sample `indices[s]` of `a`; without, sample `indices[s]` = sample
/// `s` of `a` (for a repeated index the last one wins).
#[no_mangle]
pub extern "C" fn ds_reverse_index(
    a: *const ds_array,
    indices: *const i64,
    n: usize,
    from: bool,
    new_index_size: i64,
    out: *mut *mut ds_array,
) -> ds_status {
    named("reverse_index", out, || {
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::reverse_index(
            &t,
            &positions(indices, n, "indices")?,
            from,
            count(new_index_size, "new_index_size")?,
        )?))
    })
}

/// `pack(a, dim, mask)` (`pack_mask`): keep the elements (`dim` 1, `n` = E, result `[count]`)
/// or samples (`dim` 2, `n` = S) where `mask` is true. `mask` NULL: a copy.
#[no_mangle]
pub extern "C" fn ds_pack_mask(
    a: *const ds_array,
    dim: i32,
    mask_values: *const bool,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    named("pack_mask", out, || {
        let m = if mask_values.is_null() {
            None
        } else {
            Some(mask(mask_values, n)?)
        };
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::pack_mask(&t, dim.into(), m.as_deref())?))
    })
}

/// `pack(a, indices, dim)` (`pack_indices`): `dim` 1: element `i` of each sample is element
/// `indices[i]` (result `[n]`); `dim` 2: sample `s` is sample `indices[s]` (result `[E]`).
#[no_mangle]
pub extern "C" fn ds_pack_indices(
    a: *const ds_array,
    indices: *const i64,
    n: usize,
    dim: i32,
    out: *mut *mut ds_array,
) -> ds_status {
    named("pack_indices", out, || {
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::pack_indices(
            &t,
            &positions(indices, n, "indices")?,
            dim.into(),
        )?))
    })
}

/// `unpack(a, array_shape, dim, indices)` (`unpack_mask`): zeros of `array_shape` (`rank`
/// entries: the per-sample shape, then the batch) where, along `dim`, position `indices[i]` is
/// position `i` of `a`. `indices` NULL: the first positions (a copy into the larger array).
#[no_mangle]
pub extern "C" fn ds_unpack_mask(
    a: *const ds_array,
    array_shape: *const i64,
    rank: usize,
    dim: i32,
    indices: *const i64,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    named("unpack_mask", out, || {
        let shape = positions(array_shape, rank, "array_shape")?;
        let idx = if indices.is_null() {
            None
        } else {
            Some(positions(indices, n, "indices")?)
        };
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::unpack_mask(&t, &shape, dim.into(), idx.as_deref())?))
    })
}

/// `unpack(a, indices, dim, new_size)` (`unpack_indices`): `dim` 1: result `[new_size]` with
/// element `indices[i]` = element `i` of each sample; `dim` 2: result batch `new_size` with
/// sample `indices[s]` = sample `s`; zeros elsewhere.
#[no_mangle]
pub extern "C" fn ds_unpack_indices(
    a: *const ds_array,
    indices: *const i64,
    n: usize,
    dim: i32,
    new_size: i64,
    out: *mut *mut ds_array,
) -> ds_status {
    named("unpack_indices", out, || {
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::unpack_indices(
            &t,
            &positions(indices, n, "indices")?,
            dim.into(),
            count(new_size, "new_size")?,
        )?))
    })
}

/// `reshape(a, new_shape)`: the same values with per-sample shape `new_shape` (`rank` entries,
/// the batch excluded); the number of elements must not change.
#[no_mangle]
pub extern "C" fn ds_reshape(
    a: *const ds_array,
    new_shape: *const i64,
    rank: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    named("reshape", out, || {
        let shape = positions(new_shape, rank, "new_shape")?;
        let arr = handle::get(a, "a")?;
        Ok(map!(arr, t => mv::reshape(&t, &shape)?))
    })
}

/// `merge(tsource, fsource, mask)`: `tsource` where `mask` (`n` = E * S values, column-major) is
/// true, `fsource` elsewhere; result shape `[E]`. Extents broadcast as in arithmetic.
#[no_mangle]
pub extern "C" fn ds_merge(
    tsource: *const ds_array,
    fsource: *const ds_array,
    mask_values: *const bool,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    named("merge", out, || {
        let (a1, a2) = (
            handle::get(tsource, "tsource")?,
            handle::get(fsource, "fsource")?,
        );
        Ok(map2!("merge", a1, a2, (x, y) => mv::merge(
            &x,
            &y,
            &mask(mask_values, n)?,
        )?))
    })
}

/// `merge(tsource, s, mask)` with a real scalar `fsource` (`merge_scalar`).
#[no_mangle]
pub extern "C" fn ds_merge_scalar(
    tsource: *const ds_array,
    fsource: f64,
    mask_values: *const bool,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    named("merge", out, || {
        let arr = handle::get(tsource, "tsource")?;
        Ok(map!(arr, t => mv::merge_scalar(
            &t,
            scalar(fsource),
            &mask(mask_values, n)?,
        )?))
    })
}

/// `merge(s, fsource, mask)` with a real scalar `tsource` (`merge_scalar`).
#[no_mangle]
pub extern "C" fn ds_scalar_merge(
    tsource: f64,
    fsource: *const ds_array,
    mask_values: *const bool,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    named("merge", out, || {
        let arr = handle::get(fsource, "fsource")?;
        Ok(map!(arr, t => mv::scalar_merge(
            scalar(tsource),
            &t,
            &mask(mask_values, n)?,
        )?))
    })
}

fn merge_real2d<T: Elem>(
    tsource: *const ds_array,
    fsource: *const T,
    rows: usize,
    cols: usize,
    mask_values: *const bool,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    named("merge", out, || {
        let m = slice(fsource, rows.saturating_mul(cols), "fsource")?;
        let arr = handle::get(tsource, "tsource")?;
        let t = arr.typed::<T>("ds_merge_real2d")?;
        Ok(T::wrap(mv::merge_real2d(
            t,
            m,
            rows,
            cols,
            &mask(mask_values, n)?,
        )?))
    })
}

/// `merge(tsource, m, mask)` with a real `rows x cols` column-major matrix `fsource`, read as
/// extents `(E, S)` that broadcast against `tsource` (`float`; `_f64`: `double`).
#[no_mangle]
pub extern "C" fn ds_merge_real2d(
    tsource: *const ds_array,
    fsource: *const f32,
    rows: usize,
    cols: usize,
    mask_values: *const bool,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    merge_real2d(tsource, fsource, rows, cols, mask_values, n, out)
}

/// `ds_merge_real2d` for a `double` array and matrix.
#[no_mangle]
pub extern "C" fn ds_merge_real2d_f64(
    tsource: *const ds_array,
    fsource: *const f64,
    rows: usize,
    cols: usize,
    mask_values: *const bool,
    n: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    merge_real2d(tsource, fsource, rows, cols, mask_values, n, out)
}
