//! Fallible allocation of every buffer whose size depends on user data.
//!
//! Rust's ordinary allocations abort the process when memory runs out. Here every such buffer
//! is reserved with `try_reserve_exact`. The kernels keep returning plain vectors: when a
//! reservation fails, the helpers below unwind with an [`Error`] of kind
//! [`ErrorKind::OutOfMemory`] as the payload (through [`std::panic::resume_unwind`], so no panic
//! message is printed), and the nearest [`guard`] (one per operation and per differentiation
//! pass) stops the unwinding and returns that error, prefixed with the operation and its
//! operands. The C boundary stops any that no guard caught. Nothing that a kernel changes
//! before the failure is visible: kernels write only into their new buffers.
//!
//! Unwinding needs `panic = "unwind"` (Rust's default); with `panic = "abort"` an allocation
//! failure aborts, as in plain Rust.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::error::{Error, ErrorKind, Result};
use super::tensor::Tensor;

/// The out-of-memory error for a request of `bytes` bytes.
pub(crate) fn out_of_memory(bytes: usize) -> Error {
    Error::new(
        ErrorKind::OutOfMemory,
        format!("out of memory: cannot allocate {bytes} bytes"),
    )
}

/// Reports a failed allocation of `bytes` bytes to the nearest [`guard`].
#[cold]
pub(crate) fn fail(bytes: usize) -> ! {
    resume_unwind(Box::new(out_of_memory(bytes)))
}

/// Bytes of `n` values of `T`, saturated (for messages).
fn bytes_of<T>(n: usize) -> usize {
    n.saturating_mul(std::mem::size_of::<T>())
}

/// Makes room for `additional` more values in `v`, or reports the failure to the nearest
/// [`guard`].
pub(crate) fn reserve<T>(v: &mut Vec<T>, additional: usize) {
    if v.try_reserve(additional).is_err() {
        fail(bytes_of::<T>(v.len().saturating_add(additional)));
    }
}

/// Makes room for `additional` more entries in `m`, or reports the failure to the nearest
/// [`guard`].
pub(crate) fn reserve_map<K: Eq + Hash, V, S: BuildHasher>(
    m: &mut HashMap<K, V, S>,
    additional: usize,
) {
    if m.try_reserve(additional).is_err() {
        fail(bytes_of::<(K, V)>(m.len().saturating_add(additional)));
    }
}

/// An empty vector with room for exactly `n` values.
pub(crate) fn with_capacity<T>(n: usize) -> Vec<T> {
    let mut v = Vec::new();
    if v.try_reserve_exact(n).is_err() {
        fail(bytes_of::<T>(n));
    }
    v
}

/// `n` copies of `value`.
pub(crate) fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = with_capacity(n);
    v.resize(n, value);
    v
}

/// The `n` items of `it` (an iterator of exactly `n` items).
pub(crate) fn collect<T>(n: usize, it: impl Iterator<Item = T>) -> Vec<T> {
    let mut v = with_capacity(n);
    v.extend(it);
    debug_assert_eq!(
        v.len(),
        n,
        "alloc::collect: the iterator has another length"
    );
    v
}

/// The items of `it`, room for them reserved from the iterator's upper bound (or its lower
/// bound when it has none: pass iterators whose count is known, or use [`collect`]).
pub(crate) fn vec_from<T>(it: impl Iterator<Item = T>) -> Vec<T> {
    let (lower, upper) = it.size_hint();
    let mut v = with_capacity(upper.unwrap_or(lower));
    v.extend(it);
    v
}

/// The product of `factors` (a result's number of values), or an out-of-memory error naming
/// `what` when it does not fit in the address space.
pub(crate) fn checked_len(what: impl FnOnce() -> String, factors: &[usize]) -> Result<usize> {
    factors
        .iter()
        .try_fold(1usize, |n, &f| n.checked_mul(f))
        .filter(|n| {
            n.checked_mul(std::mem::size_of::<f32>())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| {
            Error::new(
                ErrorKind::OutOfMemory,
                format!(
                    "{}: out of memory: the result would have {} values, more than the address \
                     space holds",
                    what(),
                    factors
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(" x ")
                ),
            )
        })
}

/// A copy of a slice.
pub(crate) fn copy<T: Clone>(x: &[T]) -> Vec<T> {
    let mut v = with_capacity(x.len());
    v.extend_from_slice(x);
    v
}

/// Runs `f`, turning an allocation failure inside it (reported by the helpers of this module)
/// into an `Err` whose message starts with `context()` (the operation and its operands). An
/// [`Error`] raised by a panic deep in a computation (the values of a lent buffer that its holder
/// gave up) is returned as it is; any other panic goes on unwinding.
pub(crate) fn guard<T>(
    context: impl FnOnce() -> String,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => match payload.downcast::<Error>() {
            Ok(e) if e.kind() == ErrorKind::OutOfMemory => Err(Error::new(
                ErrorKind::OutOfMemory,
                format!("{}: {}", context(), e.message()),
            )),
            Ok(e) => Err(*e),
            Err(other) => resume_unwind(other),
        },
    }
}

/// [`guard`] that also prefixes an out-of-memory error returned by `f` (one that a nested guard,
/// of an operation a rule uses, already turned into an `Err`) with `context()`.
pub(crate) fn guard_all<T>(
    context: impl Fn() -> String,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    guard(&context, f).map_err(|e| {
        let c = context();
        if e.kind() == ErrorKind::OutOfMemory && !e.message().starts_with(&c) {
            Error::new(ErrorKind::OutOfMemory, format!("{c}: {}", e.message()))
        } else {
            e
        }
    })
}

/// `"add ([3] with batch 1 and [1] with batch 2)"`: an operation and its operands, the context of
/// an out-of-memory message.
pub(crate) fn context<R: super::real::Real>(op: &str, operands: &[&Tensor<R>]) -> String {
    let list: Vec<String> = operands.iter().map(|t| crate::ops::describe(t)).collect();
    match list.len() {
        0 => op.to_string(),
        1 => format!("{op} ({})", list[0]),
        _ => format!(
            "{op} ({} and {})",
            list[..list.len() - 1].join(", "),
            list[list.len() - 1]
        ),
    }
}

/// [`guard`] with the context of [`context`].
pub(crate) fn guard_op<T, R: super::real::Real>(
    op: &str,
    operands: &[&Tensor<R>],
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    guard(|| context(op, operands), f)
}
