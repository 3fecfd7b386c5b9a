//! Graph inspection: operation names, inputs, printing, zeroing every gradient.

use std::ffi::{c_char, CStr};

use super::any::{each, map, Elem};
use super::handle::{self, ds_array};
use super::status::{boundary, ds_status, non_null, write_out};
use crate::core::{self, print, Error};

/// Copies `text` and a terminating NUL into `buf` (capacity `cap` bytes) if it fits, and writes
/// the length without the NUL to `*len`. A buffer too small (or NULL) gives DS_ERR_ARGUMENT
/// with `*len` written, so the caller can retry with a larger buffer.
fn copy_text(text: &str, buf: *mut c_char, cap: usize, len: *mut usize) -> Result<(), Error> {
    write_out(len, text.len(), "len")?;
    if buf.is_null() || cap <= text.len() {
        return Err(Error::argument(format!(
            "text buffer holds {cap} bytes, {} are needed",
            text.len() + 1
        )));
    }
    // SAFETY: buf holds at least text.len() + 1 bytes (checked above).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        buf.add(text.len()).write(0);
    }
    Ok(())
}

/// The operation that produced the array (diffstruc's `operation`, "none" for leaves).
///
/// Text rule (also for `ds_graph_print`): `*len` receives the text length without the NUL;
/// the text and a NUL are copied into `buf` if `cap > *len`, otherwise (or if `buf` is NULL)
/// DS_ERR_ARGUMENT is returned with `*len` written, so the caller can retry with a larger buffer.
#[no_mangle]
pub extern "C" fn ds_array_operation(
    a: *const ds_array,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ds_status {
    boundary(|| copy_text(&handle::get(a, "a")?.operation(), buf, cap, len))
}

/// Overrides the operation name the array reports and prints (a NUL-terminated string).
#[no_mangle]
pub extern "C" fn ds_array_set_operation(a: *const ds_array, name: *const c_char) -> ds_status {
    boundary(|| {
        non_null(name, "name")?;
        // SAFETY: non-null, NUL-terminated by contract.
        let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        handle::get(a, "a")?.set_operation(name.trim_end());
        Ok(())
    })
}

/// Number of inputs of the operation that produced `a` (0 for leaves and after
/// `ds_nullify_graph`).
#[no_mangle]
pub extern "C" fn ds_array_num_inputs(a: *const ds_array, n: *mut usize) -> ds_status {
    boundary(|| write_out(n, handle::get(a, "a")?.num_inputs(), "n"))
}

/// A new handle to input `i` (0-based) of the operation that produced `a`, and whether `a`
/// consumed it as a temporary (diffstruc's `owns_left_operand` / `owns_right_operand`).
/// Either output pointer may be NULL.
#[no_mangle]
pub extern "C" fn ds_array_input(
    a: *const ds_array,
    i: usize,
    out: *mut *mut ds_array,
    owned: *mut bool,
) -> ds_status {
    boundary(|| {
        let t = handle::get(a, "a")?;
        let inputs = t.inputs();
        let input = inputs.get(i).ok_or_else(|| {
            Error::argument(format!(
                "input {i} requested, the array has {}",
                inputs.len()
            ))
        })?;
        if !owned.is_null() {
            write_out(owned, t.owns_input(i), "owned")?;
        }
        if !out.is_null() {
            write_out(out, handle::insert(input.clone()), "out")?;
        }
        Ok(())
    })
}

/// The operand tree under `a` as diffstruc's `print_graph` prints it, between its header and
/// footer lines: one line per node, separated by '\n', with `@<address>` after each node when
/// `print_location` is true. Copied into `buf` under the text rule of `ds_array_operation`.
#[no_mangle]
pub extern "C" fn ds_graph_print(
    a: *const ds_array,
    print_location: bool,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ds_status {
    boundary(|| {
        let t = handle::get(a, "a")?;
        let text = each!(t, t => print::graph_lines(&t, print_location)).join("\n");
        copy_text(&text, buf, cap, len)
    })
}

/// The graph under `a` as Graphviz DOT text (render it with `dot -Tpng`): one node per array,
/// shared nodes drawn once, labelled with operation, per-sample shape and batch size; an edge
/// from each input to its user. Copied into `buf` under the text rule of `ds_array_operation`.
#[no_mangle]
pub extern "C" fn ds_graph_dot(
    a: *const ds_array,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ds_status {
    boundary(|| {
        let t = handle::get(a, "a")?;
        copy_text(&each!(t, t => print::graph_dot(&t)), buf, cap, len)
    })
}

/// Zeroes the gradient of every array in the graph under `a` (`a` included).
#[no_mangle]
pub extern "C" fn ds_zero_all_grads(a: *const ds_array) -> ds_status {
    boundary(|| each!(handle::get(a, "a")?, t => core::zero_all_grads(&t)))
}

/// diffstruc's `duplicate_graph`: a deep copy of the graph under `a` (values, flags, tags and
/// gradients copied, sharing preserved; arrays flagged DS_FLAG_FIXED are referred to, not
/// copied). `*out` is the copy of `a`.
#[no_mangle]
pub extern "C" fn ds_duplicate_graph(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    super::ops::emit(out, || {
        Ok(map!(handle::get(a, "a")?, t => core::duplicate_graph(&t)?))
    })
}

fn partial<T: Elem>(
    a: *const ds_array,
    k: usize,
    upstream: *const T,
    n_upstream: usize,
    grad: *mut T,
    n_grad: usize,
) -> ds_status {
    boundary(|| {
        let arr = handle::get(a, "a")?;
        let t = arr.typed::<T>("ds_array_partial")?;
        let up = super::ops::slice(upstream, n_upstream, "upstream")?;
        let g = core::partial(t, k, up)?;
        if g.len() != n_grad {
            return Err(Error::shape(format!(
                "ds_array_partial: grad holds {n_grad} values, input {k} has {}",
                g.len()
            )));
        }
        non_null(grad, "grad")?;
        // SAFETY: non-null; the caller provides `n_grad` writable values.
        unsafe { std::slice::from_raw_parts_mut(grad, n_grad) }.copy_from_slice(&g);
        Ok(())
    })
}

/// The reverse rule of `a`'s operation for its input `k` (0 the first) alone: writes to `grad`
/// (`n_grad` values, the input's `E * S`) the vector-Jacobian product of `upstream` (`n_upstream`
/// values, `a`'s `E * S`), summed back to the input's extents. What diffstruc's
/// `get_partial_*_val` of a built-in result computes. For a `float` array (`_f64`: `double`).
#[no_mangle]
pub extern "C" fn ds_array_partial(
    a: *const ds_array,
    k: usize,
    upstream: *const f32,
    n_upstream: usize,
    grad: *mut f32,
    n_grad: usize,
) -> ds_status {
    partial(a, k, upstream, n_upstream, grad, n_grad)
}

/// `ds_array_partial` for a `double` array.
#[no_mangle]
pub extern "C" fn ds_array_partial_f64(
    a: *const ds_array,
    k: usize,
    upstream: *const f64,
    n_upstream: usize,
    grad: *mut f64,
    n_grad: usize,
) -> ds_status {
    partial(a, k, upstream, n_upstream, grad, n_grad)
}

/// diffstruc's `detach`: `a` keeps its values and gradient, forgets how it was computed, and no
/// longer requires a gradient.
#[no_mangle]
pub extern "C" fn ds_detach(a: *const ds_array) -> ds_status {
    boundary(|| {
        handle::get(a, "a")?.detach();
        Ok(())
    })
}

/// diffstruc's `id` tag of an array (-1 until set).
#[no_mangle]
pub extern "C" fn ds_array_id(a: *const ds_array, id: *mut i64) -> ds_status {
    boundary(|| write_out(id, handle::get(a, "a")?.id(), "id"))
}

/// Sets the `id` tag of an array.
#[no_mangle]
pub extern "C" fn ds_array_set_id(a: *const ds_array, id: i64) -> ds_status {
    boundary(|| {
        handle::get(a, "a")?.set_id(id);
        Ok(())
    })
}

/// diffstruc's `get_ptr_from_id`: a new handle to the first array, in pre-order from `root`
/// (an array, then its inputs in order), whose tag is `id`; `*out` is NULL if none has it.
#[no_mangle]
pub extern "C" fn ds_graph_find_id(
    root: *const ds_array,
    id: i64,
    out: *mut *mut ds_array,
) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let found = each!(handle::get(root, "root")?, t => {
            core::find_id(&t, id).map(super::any::Array::from)
        });
        write_out(
            out,
            found.map_or(std::ptr::null_mut(), handle::insert),
            "out",
        )
    })
}
