//! Operations. Each family lives in one file where, for every operation, the value kernel, the
//! forward rule (graph-building JVP) and the reverse rule (numeric VJP) sit side by side.

pub mod arith;
/// The single-precision matrix product kernel (not part of the C ABI).
///
/// cbindgen:ignore
pub mod gemm;
pub mod linalg;
pub mod movement;
pub mod reduce;
pub mod shape;
pub mod unary;
/// Vectorised maths kernels (not part of the C ABI).
///
/// cbindgen:ignore
pub mod vmath;

use crate::core::{Grad, Real, Result, Tensor, Values};

/// Bit of [`Operation::saved_for`] that stands for the operation's result.
pub const SAVED_RESULT: u64 = 1 << 63;

/// An operation that produced a node: the contract every built-in and custom operation meets.
pub trait Operation<T: Real = f32>: Send + Sync {
    /// The name `print_graph` shows (diffstruc's `operation` string).
    fn name(&self) -> &str;

    /// The arrays whose values the rules read to differentiate with respect to input `input`:
    /// bit `j` (`j < 63`) for input `j`, [`SAVED_RESULT`] for the result. When the operation is
    /// recorded, the versions of these arrays are kept; differentiating through it fails
    /// ([`crate::ErrorKind::Modified`]) if one of them has been written since. The default,
    /// every input and the result, is right for any rule; a narrower answer only avoids
    /// refusing a derivative that does not depend on a written array.
    fn saved_for(&self, input: usize) -> u64 {
        let _ = input;
        u64::MAX
    }

    /// Forward rule: the tangent of `out` given the tangents of its inputs (`None` where an input
    /// does not depend on the differentiation variable; at least one is `Some`). Must be built
    /// from differentiable operations so that it can be differentiated again. The result may
    /// have extents that broadcast to `out`'s; `None` means a zero tangent.
    fn jvp(
        &self,
        out: &Tensor<T>,
        inputs: &[Tensor<T>],
        tangents: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>>;

    /// Reverse rule: for each input `i` with `wants[i]`, the vector-Jacobian product of the
    /// upstream gradient (extents of `out`). A returned gradient may have `out`'s extents when
    /// the input was broadcast; the engine sums it back to the input's extents.
    fn vjp(
        &self,
        out: &Tensor<T>,
        inputs: &[Tensor<T>],
        upstream: &Grad<T>,
        wants: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>>;
}

/// Reads two arrays' values at once (the same node may appear twice, as in `x * x`).
pub(crate) fn with_values2<T: Real, R>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    f: impl FnOnce(&[T], &[T]) -> R,
) -> R {
    let va: Values<'_, T> = a.values();
    if a.same(b) {
        f(&va, &va)
    } else {
        let vb = b.values();
        f(&va, &vb)
    }
}

/// The tangent of a two-input node: the sum of the contributions through each input (either
/// may be absent when that input does not depend on the variable).
pub(crate) fn sum_tangents<T: Real>(
    left: Option<Tensor<T>>,
    right: Option<Tensor<T>>,
) -> Result<Option<Tensor<T>>> {
    Ok(match (left, right) {
        (Some(l), Some(r)) => Some(arith::add(&l, &r)?),
        (l, r) => l.or(r),
    })
}

/// `"[2, 3] with batch 4"`, for error messages.
pub(crate) fn describe<T: Real>(t: &Tensor<T>) -> String {
    format!("{:?} with batch {}", t.shape(), t.batch())
}
