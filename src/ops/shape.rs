//! Shape-changing operations. For now: broadcasting a tangent to its node's extents, used by
//! forward mode when an input was broadcast by the operation.

use super::Operation;
use crate::core::alloc;
use crate::core::small::Inputs;
use crate::core::tensor::checked_dims;
use crate::core::{dims, Error, Flags, Grad, OpRef, Real, Result, Tensor};

/// Repeats `a` (extents `(1 or E, 1 or S)`) to per-sample `shape` and `batch`.
pub fn broadcast_to<T: Real>(a: &Tensor<T>, shape: &[usize], batch: usize) -> Result<Tensor<T>> {
    let to = checked_dims(shape, batch)?;
    if !a.dims().broadcasts_to(to) {
        return Err(Error::shape(format!(
            "broadcast: cannot broadcast {} to {:?} with batch {}",
            super::describe(a),
            shape,
            batch
        )));
    }
    let data = alloc::guard_op("broadcast", &[a], || {
        Ok(dims::expand(&a.values(), a.dims(), to))
    })?;
    let flags = Flags {
        sample_dependent: a.is_sample_dependent() || batch > 1,
        scalar: a.is_scalar() && to.len() == 1,
    };
    Ok(Tensor::from_op(
        shape,
        batch,
        data,
        flags,
        OpRef::Static(&Broadcast),
        Inputs::one(a.clone()),
    ))
}

struct Broadcast;

impl<T: Real> Operation<T> for Broadcast {
    fn name(&self) -> &str {
        "broadcast"
    }
    fn saved_for(&self, _: usize) -> u64 {
        0
    }
    fn jvp(
        &self,
        out: &Tensor<T>,
        _: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        t[0].as_ref()
            .map(|t| broadcast_to(t, out.shape(), out.batch()))
            .transpose()
    }
    fn vjp(
        &self,
        _: &Tensor<T>,
        _: &[Tensor<T>],
        g: &Grad<T>,
        _: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        // The engine sums the gradient back to the input's extents.
        Ok(vec![Some(g.clone())])
    }
}
