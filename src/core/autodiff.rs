//! The two differentiation passes over the DAG, both iterative and O(nodes).
//!
//! * Forward mode ([`grad_forward`]) walks the graph once in topological order and builds, out of
//!   ordinary operations, a new graph whose value is the Jacobian-vector product. Shared nodes
//!   are differentiated once (memoised). The result is differentiable again: 2nd and 3rd
//!   derivatives, mixed partials, and reverse-over-forward Hessian-vector products.
//! * Reverse mode ([`grad_reverse`]) visits every node once in reverse topological order,
//!   accumulating each node's upstream gradient before pushing it to its inputs.

use std::sync::Arc;

use super::dims::{self, Dims};
use super::error::{Error, ErrorKind, Result};
use super::pool;
use super::small::{Inputs, PtrMap};
use super::tensor::Tensor;

/// A gradient buffer of extents `dims`, shared cheaply between nodes (an identity derivative
/// passes the same buffer on without copying).
#[derive(Clone, Debug)]
pub struct Grad {
    data: Arc<Buffer>,
    dims: Dims,
}

/// A gradient's values; the allocation goes back to the buffer pool when dropped.
#[derive(Debug)]
struct Buffer(Vec<f32>);

impl Clone for Buffer {
    fn clone(&self) -> Self {
        Buffer(pool::copy(&self.0))
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        pool::recycle(std::mem::take(&mut self.0));
    }
}

impl Grad {
    /// Wraps values of extents `dims`.
    pub fn new(data: Vec<f32>, dims: Dims) -> Grad {
        debug_assert_eq!(data.len(), dims.len());
        Grad {
            data: Arc::new(Buffer(data)),
            dims,
        }
    }
    /// The values, column-major `(E, S)`.
    pub fn as_slice(&self) -> &[f32] {
        &self.data.0
    }
    /// Extents.
    pub fn dims(&self) -> Dims {
        self.dims
    }
    fn add_assign(&mut self, other: &Grad) {
        let v = &mut Arc::make_mut(&mut self.data).0;
        crate::ops::vmath::add_assign(v, &other.data.0);
    }
    fn reduce_to(self, to: Dims) -> Grad {
        if self.dims == to {
            self
        } else {
            Grad::new(dims::reduce_to(self.as_slice(), self.dims, to), to)
        }
    }
}

/// Nodes reachable from `root` through inputs that require a gradient, inputs before the nodes
/// that use them. The walk does not descend below `stop`. Iterative: no recursion, any depth.
pub(crate) fn topological_order(root: &Tensor, stop: Option<&Tensor>) -> Result<Vec<Tensor>> {
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut mark: PtrMap<u8> = PtrMap::default();
    let mut order = Vec::new();
    // Inputs that do not require a gradient are skipped when visited.
    let expand = |t: &Tensor| -> Inputs {
        if stop.is_some_and(|s| s.same(t)) {
            return Inputs::Empty;
        }
        t.input_list()
    };
    let mut stack: Vec<(Tensor, Inputs, usize)> = vec![(root.clone(), expand(root), 0)];
    mark.insert(root.key(), OPEN);
    while let Some((node, children, next)) = stack.last_mut() {
        if let Some(child) = children.get(*next) {
            *next += 1;
            if !child.requires_grad() {
                continue;
            }
            match mark.get(&child.key()) {
                Some(&DONE) => {}
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Graph,
                        format!(
                            "the graph has a cycle through a '{}' node",
                            child.operation()
                        ),
                    ))
                }
                None => {
                    let child = child.clone();
                    mark.insert(child.key(), OPEN);
                    let grandchildren = expand(&child);
                    stack.push((child, grandchildren, 0));
                }
            }
        } else {
            mark.insert(node.key(), DONE);
            order.push(node.clone());
            stack.pop();
        }
    }
    Ok(order)
}

/// Directional derivative of `f` with respect to `x` (forward mode), as a new differentiable graph.
///
/// The seed is `x`'s direction if one is set (see [`Tensor::set_direction`]), otherwise all ones.
/// The result has `f`'s shape. If `f` does not depend on `x` the result is zeros.
///
/// Errors: [`ErrorKind::NoGradient`] if `x` does not require a gradient.
pub fn grad_forward(f: &Tensor, x: &Tensor) -> Result<Tensor> {
    if !x.requires_grad() {
        return Err(Error::new(
            ErrorKind::NoGradient,
            "grad_forward: the variable does not require a gradient (set requires_grad first)",
        ));
    }
    let seed = {
        let d = x.dims();
        let data = match x.direction() {
            Some(v) if v.len() == d.len() => v,
            Some(v) => dims::expand(&v, Dims::new(d.elems, 1), d),
            None => vec![1.0; d.len()],
        };
        Tensor::constant(
            x.shape(),
            d.batch,
            data,
            x.is_sample_dependent(),
            x.is_scalar(),
        )
    };
    let order = topological_order(f, Some(x))?;
    let mut tangents: PtrMap<Tensor> = PtrMap::default();
    for node in &order {
        if node.same(x) {
            tangents.insert(node.key(), seed.clone());
            continue;
        }
        let Some((op, inputs)) = node.op_and_inputs() else {
            continue;
        };
        let ts: Vec<Option<Tensor>> = inputs
            .iter()
            .map(|i| tangents.get(&i.key()).cloned())
            .collect();
        if ts.iter().all(Option::is_none) {
            continue;
        }
        if let Some(t) = op.jvp(node, &inputs, &ts)? {
            let t = conform(t, node)?;
            tangents.insert(node.key(), t);
        }
    }
    let out = match tangents.remove(&f.key()) {
        Some(t) => t,
        None => f.new_grad(None),
    };
    out.set_forward(true);
    Ok(out)
}

/// Makes a tangent contribution have the extents of its node (broadcast where needed).
fn conform(t: Tensor, node: &Tensor) -> Result<Tensor> {
    if t.dims() == node.dims() {
        if t.shape() != node.shape() {
            // same values, another per-sample shape (a custom rule may return one)
            return crate::ops::movement::reshape(&t, node.shape());
        }
        return Ok(t);
    }
    if t.dims().broadcasts_to(node.dims()) {
        return crate::ops::shape::broadcast_to(&t, node.shape(), node.batch());
    }
    Err(Error::new(
        ErrorKind::Internal,
        format!(
            "forward rule of '{}' produced extents ({}, {}) for a node of extents ({}, {})",
            node.operation(),
            t.dims().elems,
            t.dims().batch,
            node.dims().elems,
            node.dims().batch
        ),
    ))
}

/// Reverse mode: accumulates `d(sum(seed * root))/dv` into the gradient of every leaf `v` that
/// requires a gradient (and of intermediate nodes marked with [`Tensor::set_retain_grad`]).
///
/// `seed` has the root's extents; `None` means all ones (so a non-scalar root gives the gradient
/// of the sum of its values). Gradients accumulate across calls; clear them with
/// [`Tensor::zero_grad`].
///
/// Errors: [`ErrorKind::Shape`] if the seed's length differs from the root's `E * S`.
pub fn grad_reverse(root: &Tensor, seed: Option<&[f32]>) -> Result<()> {
    let rd = root.dims();
    let seed = match seed {
        Some(s) if s.len() == rd.len() => pool::copy(s),
        Some(s) => {
            return Err(Error::shape(format!(
                "grad_reverse: seed has {} values, the result has {} ({:?} with batch {})",
                s.len(),
                rd.len(),
                root.shape(),
                rd.batch
            )))
        }
        None => pool::filled(rd.len(), 1.0),
    };
    let order = topological_order(root, None)?;
    let index: PtrMap<usize> = order
        .iter()
        .enumerate()
        .map(|(i, t)| (t.key(), i))
        .collect();
    for node in order.iter().filter(|n| n.is_fixed()) {
        node.zero_grad();
    }
    let mut pending: Vec<Option<Grad>> = vec![None; order.len()];
    if let Some(last) = pending.last_mut() {
        *last = Some(Grad::new(seed, rd));
    }
    for (i, node) in order.iter().enumerate().rev() {
        let Some(g) = pending[i].take() else {
            continue;
        };
        let op_inputs = node.op_and_inputs();
        if (op_inputs.is_none() && node.requires_grad()) || node.retains_grad() {
            node.accumulate_grad(g.as_slice());
        }
        let Some((op, inputs)) = op_inputs else {
            continue;
        };
        let wants: Vec<bool> = inputs
            .iter()
            .map(|t| t.requires_grad() && index.contains_key(&t.key()))
            .collect();
        let grads = op.vjp(node, &inputs, &g, &wants)?;
        for ((input, want), gi) in inputs.iter().zip(&wants).zip(grads) {
            let (true, Some(gi)) = (*want, gi) else {
                continue;
            };
            let to = input.dims();
            if !to.broadcasts_to(gi.dims()) {
                return Err(Error::new(
                    ErrorKind::Internal,
                    format!(
                        "reverse rule of '{}' produced extents ({}, {}) for an input of extents ({}, {})",
                        node.operation(),
                        gi.dims().elems,
                        gi.dims().batch,
                        to.elems,
                        to.batch
                    ),
                ));
            }
            let gi = gi.reduce_to(to);
            let slot = &mut pending[index[&input.key()]];
            match slot {
                Some(acc) => acc.add_assign(&gi),
                None => *slot = Some(gi),
            }
        }
    }
    Ok(())
}

/// Sets to zero the gradient of every node reachable from `root` (root included), as diffstruc's
/// `zero_all_grads` does.
pub fn zero_all_grads(root: &Tensor) -> Result<()> {
    for node in topological_order(root, None)? {
        node.zero_grad();
    }
    Ok(())
}
