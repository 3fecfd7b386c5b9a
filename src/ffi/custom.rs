//! Custom operations defined by the caller: a value computed by the caller, plus a forward rule
//! (which builds the tangent from `ds_` operations, so it can be differentiated again) and a
//! reverse rule (which fills a gradient buffer), as C callbacks with user data.
//!
//! Typical use: `ds_custom_op_create` once; for each application compute the values and call
//! `ds_custom_apply` (or create the result first, fill it through `ds_array_data`, and link it
//! with `ds_array_set_custom`, diffstruc's pattern); `ds_custom_op_free` when no new application
//! is needed. Nodes keep the operation alive; `destroy(user_data)` runs when the last one is gone.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use super::handle::{self, ds_array};
use super::ops::{emit, slice};
use super::status::{boundary, ds_status, kind_of, last_error_message, non_null, write_out};
use crate::core::{Dims, Error, ErrorKind, Grad, Result, Tensor};
use crate::ops::{sum_tangents, Operation};

/// Opaque handle to a custom operation.
pub struct ds_custom_op {
    _private: [u8; 0],
}

/// Forward rule: writes to `*contribution` a new array, built with `ds_` operations from
/// `tangent` (the tangent of input `k`, with that input's extents) and any of `out` and
/// `inputs`, holding the tangent of `out` through input `k`: an array with `out`'s extents (or
/// extents that broadcast to them), or NULL for zero. The library takes ownership of the
/// returned handle. `out`, `inputs` and `tangent` are valid only during the call.
pub type ds_jvp_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        out: *const ds_array,
        inputs: *const *const ds_array,
        n_inputs: usize,
        k: usize,
        tangent: *const ds_array,
        contribution: *mut *mut ds_array,
    ) -> ds_status,
>;

/// Reverse rule: given `upstream` (the gradient of `out`, extents `(E_out, S_out)`), fills
/// `grad` (zeros on entry, extents `(E_k, grad_batch)`) with the vector-Jacobian product for
/// input `k`. `grad_batch` is `S_k`, or `S_out` when input `k` has one sample shared by the
/// batch; the library then sums the `grad_batch` columns.
pub type ds_vjp_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        out: *const ds_array,
        inputs: *const *const ds_array,
        n_inputs: usize,
        k: usize,
        upstream: *const f32,
        grad: *mut f32,
        grad_batch: usize,
    ) -> ds_status,
>;

/// Releases the user data when the operation is no longer used by any array.
pub type ds_user_data_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// The rules of a custom operation. A missing rule makes that differentiation mode fail with a
/// clear error when it reaches the operation (values still work). Callbacks may run on any
/// thread that differentiates a graph holding the operation; return a non-OK status to report a
/// failure (its message should be set by a failing `ds_` call).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ds_custom_rules {
    /// Passed to every callback.
    pub user_data: *mut c_void,
    /// Forward (graph-building) rule.
    pub jvp: ds_jvp_fn,
    /// Reverse (numeric) rule.
    pub vjp: ds_vjp_fn,
    /// Called once with `user_data` when the operation is freed and no array uses it.
    pub destroy: ds_user_data_free_fn,
}

/// A custom operation backed by C callbacks.
struct Foreign {
    name: String,
    rules: ds_custom_rules,
}

// SAFETY: the callbacks and user data are the caller's; the header documents that they may be
// called from any thread that differentiates a graph holding the operation.
unsafe impl Send for Foreign {}
unsafe impl Sync for Foreign {}

impl Drop for Foreign {
    fn drop(&mut self) {
        if let Some(destroy) = self.rules.destroy {
            // SAFETY: the caller's destructor for its own user data, called exactly once.
            unsafe { destroy(self.rules.user_data) };
        }
    }
}

/// Handles valid for the duration of one callback.
struct Scope {
    out: *mut ds_array,
    inputs: Vec<*const ds_array>,
}

impl Scope {
    fn new(out: &Tensor, inputs: &[Tensor]) -> Scope {
        Scope {
            out: handle::insert(out.clone()),
            inputs: inputs
                .iter()
                .map(|t| handle::insert(t.clone()).cast_const())
                .collect(),
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // The callback may have freed a handle it was lent: ignore the error.
        let _ = handle::remove(self.out, "out");
        for &h in &self.inputs {
            let _ = handle::remove(h, "input");
        }
    }
}

impl Foreign {
    fn failed(&self, rule: &str, k: usize, status: ds_status) -> Error {
        Error::new(
            kind_of(status),
            format!(
                "custom operation '{}': {rule} rule for input {} failed: {}",
                self.name,
                k + 1,
                last_error_message()
            ),
        )
    }
    fn missing(&self, rule: &str) -> Error {
        Error::new(
            ErrorKind::NoGradient,
            format!("custom operation '{}' has no {rule} rule", self.name),
        )
    }
}

impl Operation for Foreign {
    fn name(&self) -> &str {
        &self.name
    }

    fn jvp(&self, out: &Tensor, inputs: &[Tensor], t: &[Option<Tensor>]) -> Result<Option<Tensor>> {
        let jvp = self.rules.jvp.ok_or_else(|| self.missing("forward"))?;
        let scope = Scope::new(out, inputs);
        let mut total = None;
        for (k, tk) in t.iter().enumerate() {
            let Some(tk) = tk else { continue };
            let th = handle::insert(tk.clone());
            let mut c: *mut ds_array = std::ptr::null_mut();
            // SAFETY: the caller's callback, with handles valid for the call.
            let status = unsafe {
                jvp(
                    self.rules.user_data,
                    scope.out,
                    scope.inputs.as_ptr(),
                    inputs.len(),
                    k,
                    th,
                    &mut c,
                )
            };
            let _ = handle::remove(th, "tangent");
            if status != ds_status::DS_OK {
                if !c.is_null() {
                    let _ = handle::remove(c, "contribution");
                }
                return Err(self.failed("forward", k, status));
            }
            if c.is_null() {
                continue;
            }
            let contribution = handle::get(c, "contribution").and_then(|a| {
                a.typed::<f32>("custom operation forward rule").cloned()
            }).map_err(|e| {
                Error::new(
                    ErrorKind::Handle,
                    format!(
                        "custom operation '{}': forward rule for input {} returned an invalid array: {}",
                        self.name,
                        k + 1,
                        e.message()
                    ),
                )
            })?;
            let _ = handle::remove(c, "contribution");
            if !contribution.dims().broadcasts_to(out.dims()) {
                return Err(Error::shape(format!(
                    "custom operation '{}': forward rule for input {} returned extents ({}, {}), the result has ({}, {})",
                    self.name,
                    k + 1,
                    contribution.dims().elems,
                    contribution.dims().batch,
                    out.dims().elems,
                    out.dims().batch
                )));
            }
            total = sum_tangents(total, Some(contribution))?;
        }
        Ok(total)
    }

    fn vjp(
        &self,
        out: &Tensor,
        x: &[Tensor],
        g: &Grad,
        wants: &[bool],
    ) -> Result<Vec<Option<Grad>>> {
        let vjp = self.rules.vjp.ok_or_else(|| self.missing("reverse"))?;
        let scope = Scope::new(out, x);
        let mut grads = Vec::with_capacity(x.len());
        for (k, (input, &want)) in x.iter().zip(wants).enumerate() {
            if !want {
                grads.push(None);
                continue;
            }
            let d = input.dims();
            // the input's own batch, or the result's when the input is shared by the batch
            let batch = if d.batch == 1 { out.batch() } else { d.batch };
            let mut buf = crate::core::pool::filled(d.elems * batch, 0.0);
            // SAFETY: the caller's callback; `upstream` has E_out * S_out values and `buf` the
            // documented E_k * grad_batch.
            let status = unsafe {
                vjp(
                    self.rules.user_data,
                    scope.out,
                    scope.inputs.as_ptr(),
                    x.len(),
                    k,
                    g.as_slice().as_ptr(),
                    buf.as_mut_ptr(),
                    batch,
                )
            };
            if status != ds_status::DS_OK {
                return Err(self.failed("reverse", k, status));
            }
            grads.push(Some(Grad::new(buf, Dims::new(d.elems, batch))));
        }
        Ok(grads)
    }
}

/// A per-process random multiple of 8, mixed into custom operation ids.
fn id_key() -> usize {
    use std::hash::{BuildHasher, Hasher};
    static KEY: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        (h.finish() as usize) & !7
    })
}

fn registry() -> MutexGuard<'static, HashMap<usize, Arc<Foreign>>> {
    static OPS: LazyLock<Mutex<HashMap<usize, Arc<Foreign>>>> = LazyLock::new(Default::default);
    // A panic while the lock is held cannot leave the map inconsistent (single operations).
    OPS.lock().unwrap_or_else(|p| p.into_inner())
}

fn lookup(op: *const ds_custom_op) -> Result<Arc<Foreign>> {
    non_null(op, "op")?;
    registry().get(&(op as usize)).cloned().ok_or_else(|| {
        Error::new(
            ErrorKind::Handle,
            "op is not a live custom operation (freed, or not created by ds_custom_op_create)",
        )
    })
}

/// Custom operations exchange `float` buffers with their rules: their arrays are real32.
fn custom_only_f32(a: &super::any::Array) -> Result<&Tensor> {
    super::any::Elem::view(a).ok_or_else(|| {
        Error::new(
            ErrorKind::Type,
            format!(
                "custom operations take real32 arrays (their rules exchange float buffers); \
                 got {}",
                a.describe()
            ),
        )
    })
}

fn input_list(inputs: *const *const ds_array, n: usize) -> Result<Vec<Tensor>> {
    if n == 0 {
        return Err(Error::argument(
            "a custom operation needs at least one input",
        ));
    }
    non_null(inputs, "inputs")?;
    // SAFETY: non-null checked; the caller provides `n` handles.
    let hs = unsafe { std::slice::from_raw_parts(inputs, n) };
    hs.iter()
        .enumerate()
        .map(|(i, &h)| {
            let a = handle::get(h, &format!("inputs[{i}]"))?;
            custom_only_f32(&a).cloned()
        })
        .collect()
}

/// Creates a custom operation named `name` (shown by `ds_graph_print`) with the given rules
/// (copied). On failure nothing is kept and `destroy` is not called.
#[no_mangle]
pub extern "C" fn ds_custom_op_create(
    name: *const c_char,
    rules: *const ds_custom_rules,
    out: *mut *mut ds_custom_op,
) -> ds_status {
    boundary(|| {
        non_null(name, "name")?;
        non_null(rules, "rules")?;
        non_null(out, "out")?;
        // SAFETY: non-null checked; the caller passes a NUL-terminated string.
        let name = unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned();
        if name.is_empty() || name.len() > 32 {
            return Err(Error::argument(format!(
                "custom operation name must have 1 to 32 characters, got {:?}",
                name
            )));
        }
        // SAFETY: non-null checked; the caller passes a readable ds_custom_rules.
        let rules = unsafe { *rules };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        // Ids are distinct multiples of 8 mixed with a per-process random key (so invented
        // values are unlikely to name one): never NULL, never reused.
        let id = loop {
            let id = ((NEXT.fetch_add(1, Ordering::Relaxed) + 1) * 8) ^ id_key();
            if id != 0 {
                break id;
            }
        };
        let op = Arc::new(Foreign { name, rules });
        write_out(out, id as *mut ds_custom_op, "out")?;
        registry().insert(id, op);
        Ok(())
    })
}

/// Releases the caller's reference to a custom operation; arrays computed with it keep it alive.
#[no_mangle]
pub extern "C" fn ds_custom_op_free(op: *mut ds_custom_op) -> ds_status {
    boundary(|| {
        lookup(op)?;
        let removed = registry().remove(&(op as usize));
        // The user data destructor may call back into the library: run it outside the lock.
        drop(removed);
        Ok(())
    })
}

/// Applies a custom operation to `n` inputs: the result has per-sample `shape` (`rank`
/// entries) and `batch` samples, with `values` (`E * S`, column-major) or zeros if `values` is
/// NULL (fill them through `ds_array_data`). It records the operation and its inputs when an
/// input requires a gradient.
#[no_mangle]
pub extern "C" fn ds_custom_apply(
    op: *const ds_custom_op,
    inputs: *const *const ds_array,
    n: usize,
    shape: *const i64,
    rank: usize,
    batch: i64,
    values: *const f32,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let op = lookup(op)?;
        let inputs = input_list(inputs, n)?;
        let (shape, batch) = super::array::read_shape(shape, rank, batch)?;
        crate::core::tensor::checked_dims(&shape, batch)?;
        let len = shape.iter().product::<usize>().saturating_mul(batch);
        let data = crate::core::alloc::guard(
            || format!("custom operation result (shape {shape:?} with batch {batch})"),
            || {
                Ok(if values.is_null() {
                    crate::core::pool::filled(len, 0.0)
                } else {
                    crate::core::pool::copy(slice(values, len, "values")?)
                })
            },
        )?;
        Ok(Tensor::from_custom(&shape, batch, data, op, &inputs)?.into())
    })
}

/// Makes array `a` (a leaf, typically just created and filled) the result of custom operation
/// `op` applied to `n` inputs: diffstruc's pattern of filling a result before linking it.
#[no_mangle]
pub extern "C" fn ds_array_set_custom(
    a: *const ds_array,
    op: *const ds_custom_op,
    inputs: *const *const ds_array,
    n: usize,
) -> ds_status {
    boundary(|| {
        let a = handle::get(a, "a")?;
        let a = custom_only_f32(&a)?;
        let op = lookup(op)?;
        let inputs = input_list(inputs, n)?;
        a.attach_operation(op, &inputs)
    })
}
