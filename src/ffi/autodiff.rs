//! Differentiation and graph control.

use super::any::{map2, Elem};
use super::handle::{self, ds_array};
use super::status::{boundary, ds_status, non_null, write_out};
use crate::core;

/// Forward mode: `*out` = the directional derivative of `f` with respect to `x`, seeded with
/// `x`'s direction (`ds_array_set_direction`) or ones, as a new differentiable array (apply
/// `ds_grad_forward` to it again for higher derivatives, or `ds_grad_reverse` for
/// Hessian-vector products). Shared subgraphs are differentiated once.
///
/// Errors: DS_ERR_NO_GRAD if `x` does not require a gradient.
#[no_mangle]
pub extern "C" fn ds_grad_forward(
    f: *const ds_array,
    x: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let (f, x) = (handle::get(f, "f")?, handle::get(x, "x")?);
        let d = map2!("grad_forward", f, x, (f, x) => core::grad_forward(&f, &x)?);
        write_out(out, handle::insert(d), "out")
    })
}

fn grad_reverse<T: Elem>(f: *const ds_array, seed: *const T, seed_len: usize) -> ds_status {
    boundary(|| {
        let f = handle::get(f, "f")?;
        if seed.is_null() {
            return super::any::each!(f, f => core::grad_reverse(&f, None));
        }
        let f = f.typed::<T>("ds_grad_reverse")?;
        // SAFETY: non-null; the caller provides `seed_len` readable values.
        let seed = unsafe { std::slice::from_raw_parts(seed, seed_len) };
        core::grad_reverse(f, Some(seed))
    })
}

/// Reverse mode: adds `d(sum(seed * f))/dv` to the gradient of every array `v` that requires a
/// gradient and that `f` was computed from. `seed` holds `seed_len = E * S` `float` values of
/// `f`'s extents (`_f64`: `double`, for a real64 `f`); NULL means all ones (for a non-scalar
/// `f`, the gradient of the sum of its values), for either type. Gradients accumulate across
/// calls: clear them with `ds_zero_grad`.
#[no_mangle]
pub extern "C" fn ds_grad_reverse(
    f: *const ds_array,
    seed: *const f32,
    seed_len: usize,
) -> ds_status {
    grad_reverse(f, seed, seed_len)
}

/// `ds_grad_reverse` with a `double` seed, for a real64 `f`.
#[no_mangle]
pub extern "C" fn ds_grad_reverse_f64(
    f: *const ds_array,
    seed: *const f64,
    seed_len: usize,
) -> ds_status {
    grad_reverse(f, seed, seed_len)
}

/// Sets the array's gradient to zero (no-op if it has none).
#[no_mangle]
pub extern "C" fn ds_zero_grad(a: *const ds_array) -> ds_status {
    boundary(|| {
        handle::get(a, "a")?.zero_grad();
        Ok(())
    })
}

/// Drops the array's links to the arrays it was computed from: it keeps its values and
/// gradient and becomes a leaf; intermediates nothing else refers to are freed. Repeating it is
/// harmless; gradients of the inputs are not touched.
#[no_mangle]
pub extern "C" fn ds_nullify_graph(a: *const ds_array) -> ds_status {
    boundary(|| {
        handle::get(a, "a")?.nullify_graph();
        Ok(())
    })
}
