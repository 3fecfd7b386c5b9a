//! The two differentiation passes over the DAG, both iterative and O(nodes).
//!
//! * Forward mode ([`grad_forward`]) walks the graph once in topological order and builds, out of
//!   ordinary operations, a new graph whose value is the Jacobian-vector product. Shared<T> nodes
//!   are differentiated once (memoised). The result is differentiable again: 2nd and 3rd
//!   derivatives, mixed partials, and reverse-over-forward Hessian-vector products.
//! * Reverse mode ([`grad_reverse`]) visits every node once in reverse topological order,
//!   accumulating each node's upstream gradient before pushing it to its inputs.

use std::sync::Arc;

use super::dims::{self, Dims};
use super::error::{Error, ErrorKind, Result};
use super::real::Real;
use super::small::{Inputs, PtrMap};
use super::tensor::Tensor;
use super::{alloc, pool, version};
use crate::ops::describe;

/// A gradient buffer of extents `dims`, shared cheaply between nodes (an identity derivative
/// passes the same buffer on without copying).
#[derive(Clone, Debug)]
pub struct Grad<T: Real = f32> {
    data: Arc<Buffer<T>>,
    dims: Dims,
}

/// A gradient's values; the allocation goes back to the buffer pool when dropped.
#[derive(Debug)]
struct Buffer<T: Real>(Vec<T>);

impl<T: Real> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        Buffer(pool::copy(&self.0))
    }
}

impl<T: Real> Drop for Buffer<T> {
    fn drop(&mut self) {
        pool::recycle(std::mem::take(&mut self.0));
    }
}

impl<T: Real> Grad<T> {
    /// Wraps values of extents `dims`.
    pub fn new(data: Vec<T>, dims: Dims) -> Grad<T> {
        debug_assert_eq!(data.len(), dims.len());
        Grad {
            data: Arc::new(Buffer(data)),
            dims,
        }
    }
    /// The values, column-major `(E, S)`.
    pub fn as_slice(&self) -> &[T] {
        &self.data.0
    }
    /// Extents.
    pub fn dims(&self) -> Dims {
        self.dims
    }
    fn add_assign(&mut self, other: &Grad<T>) {
        let v = &mut Arc::make_mut(&mut self.data).0;
        T::accumulate(v, &other.data.0);
    }
    fn reduce_to(self, to: Dims) -> Grad<T> {
        if self.dims == to {
            self
        } else {
            Grad::new(dims::reduce_to(self.as_slice(), self.dims, to), to)
        }
    }
    /// The values as a vector: moved out when this is their only holder, copied otherwise.
    fn into_vec(self) -> Vec<T> {
        match Arc::try_unwrap(self.data) {
            Ok(mut b) => std::mem::take(&mut b.0),
            Err(shared) => pool::copy(&shared.0),
        }
    }
}

/// Most entries a pass's node index may hold to be kept for the next pass of the thread.
const SCRATCH_MAX: usize = 1 << 16;

thread_local! {
    /// Spare node indexes, so that a pass does not build its hash table from empty (a stack:
    /// a pass run from inside another, by a custom rule, takes its own).
    static SPARE_INDEXES: std::cell::RefCell<Vec<PtrMap<usize>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The nodes of a graph in topological order, and each node's position in it.
pub(crate) struct Order<T: Real> {
    nodes: Vec<Tensor<T>>,
    /// node address -> position in `nodes` (`OPEN` while the walk is inside the node)
    index: PtrMap<usize>,
}

const OPEN: usize = usize::MAX;

impl<T: Real> Order<T> {
    /// The position of `t` in the order, if it is there.
    pub(crate) fn position(&self, t: &Tensor<T>) -> Option<usize> {
        self.index.get(&t.key()).copied().filter(|&i| i != OPEN)
    }
}

impl<T: Real> std::ops::Deref for Order<T> {
    type Target = [Tensor<T>];
    fn deref(&self) -> &[Tensor<T>] {
        &self.nodes
    }
}

impl<T: Real> Drop for Order<T> {
    fn drop(&mut self) {
        if self.index.capacity() > SCRATCH_MAX {
            return;
        }
        let mut index = std::mem::take(&mut self.index);
        index.clear();
        let _ = SPARE_INDEXES.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                if s.len() < 4 && s.try_reserve(1).is_ok() {
                    s.push(index);
                }
            }
        });
    }
}

/// Nodes reachable from `root` through inputs that require a gradient, inputs before the nodes
/// that use them. The walk does not descend below `stop`. Iterative: no recursion, any depth.
/// Out of memory: unwinds to the caller's guard.
pub(crate) fn topological_order<T: Real>(
    root: &Tensor<T>,
    stop: Option<&Tensor<T>>,
) -> Result<Order<T>> {
    let index = SPARE_INDEXES
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut order = Order {
        nodes: alloc::with_capacity(16),
        index,
    };
    // Inputs<T> that do not require a gradient are skipped when visited.
    let expand = |t: &Tensor<T>| -> Inputs<T> {
        if stop.is_some_and(|s| s.same(t)) {
            return Inputs::Empty;
        }
        t.input_list()
    };
    let mut stack: Vec<(Tensor<T>, Inputs<T>, usize)> = alloc::with_capacity(16);
    stack.push((root.clone(), expand(root), 0));
    alloc::reserve_map(&mut order.index, 1);
    order.index.insert(root.key(), OPEN);
    while let Some((node, children, next)) = stack.last_mut() {
        if let Some(child) = children.get(*next) {
            *next += 1;
            if !child.requires_grad() {
                continue;
            }
            match order.index.get(&child.key()) {
                Some(&OPEN) => {
                    return Err(Error::new(
                        ErrorKind::Graph,
                        format!(
                            "the graph has a cycle through a '{}' node",
                            child.operation()
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    let child = child.clone();
                    alloc::reserve_map(&mut order.index, 1);
                    order.index.insert(child.key(), OPEN);
                    let grandchildren = expand(&child);
                    alloc::reserve(&mut stack, 1);
                    stack.push((child, grandchildren, 0));
                }
            }
        } else {
            order.index.insert(node.key(), order.nodes.len());
            alloc::reserve(&mut order.nodes, 1);
            order.nodes.push(node.clone());
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
/// Errors: [`ErrorKind::NoGradient`] if `x` does not require a gradient, or if an intermediate
/// result that an operation of the graph used while it required a gradient has had
/// `requires_grad` cleared since; [`ErrorKind::Modified`] if an array whose values an
/// operation's derivative needs was written after the operation used it;
/// [`ErrorKind::OutOfMemory`]; [`ErrorKind::Graph`] for a cycle.
pub fn grad_forward<T: Real>(f: &Tensor<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
    if !x.requires_grad() {
        return Err(Error::new(
            ErrorKind::NoGradient,
            "grad_forward: the variable does not require a gradient (set requires_grad first)",
        ));
    }
    alloc::guard(
        || {
            format!(
                "grad_forward (of {} with respect to {})",
                describe(f),
                describe(x)
            )
        },
        || forward_pass(f, x),
    )
}

fn forward_pass<T: Real>(f: &Tensor<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
    let seed = {
        let d = x.dims();
        let data = x.with_direction(|dir| match dir {
            Some(v) if v.len() == d.len() => pool::copy(v),
            Some(v) => dims::expand(v, Dims::new(d.elems, 1), d),
            None => pool::filled(d.len(), T::ONE),
        });
        Tensor::constant(
            x.shape(),
            d.batch,
            data,
            x.is_sample_dependent(),
            x.is_scalar(),
        )
    };
    let order = topological_order(f, Some(x))?;
    // tangents[i]: the tangent of order[i], if it has one
    let mut tangents: Vec<Option<Tensor<T>>> = alloc::filled(order.len(), None);
    let tangent_of = |tangents: &[Option<Tensor<T>>], t: &Tensor<T>| {
        order.position(t).and_then(|i| tangents[i].clone())
    };
    for (at, node) in order.iter().enumerate() {
        if node.same(x) {
            tangents[at] = Some(seed.clone());
            continue;
        }
        let Some((op, inputs)) = node.op_and_inputs() else {
            continue;
        };
        // (every node, as reverse mode does: also one whose inputs were cut off from `x` by
        // clearing requires_grad)
        version::check("grad_forward", node, &*op, &inputs, &node.saved())?;
        // (the inputs' tangents: inline for up to two inputs)
        let mut two: [Option<Tensor<T>>; 2] = [None, None];
        let many: Vec<Option<Tensor<T>>>;
        let ts: &[Option<Tensor<T>>] = if inputs.len() <= two.len() {
            for (slot, i) in two.iter_mut().zip(inputs.iter()) {
                *slot = tangent_of(&tangents, i);
            }
            &two[..inputs.len()]
        } else {
            many = alloc::collect(
                inputs.len(),
                inputs.iter().map(|i| tangent_of(&tangents, i)),
            );
            &many
        };
        if ts.iter().all(Option::is_none) {
            continue;
        }
        let t = alloc::guard_all(
            || rule_context("grad_forward", "forward", node, &inputs),
            || op.jvp(node, &inputs, ts),
        )?;
        if let Some(t) = t {
            tangents[at] = Some(conform(t, node)?);
        }
    }
    let out = match order.position(f).and_then(|i| tangents[i].take()) {
        Some(t) => t,
        None => f.new_grad(None),
    };
    out.set_forward(true);
    Ok(out)
}

/// `"grad_reverse: the reverse rule of 'multiply' (result [3] with batch 1; inputs [3] with
/// batch 1 and [3] with batch 1)"`, the context of an out-of-memory message in a rule.
fn rule_context<T: Real>(pass: &str, rule: &str, node: &Tensor<T>, inputs: &[Tensor<T>]) -> String {
    let list: Vec<String> = inputs.iter().map(describe).collect();
    format!(
        "{pass}: the {rule} rule of '{}' (result {}; inputs {})",
        node.operation(),
        describe(node),
        list.join(", ")
    )
}

/// Makes a tangent contribution have the extents of its node (broadcast where needed).
fn conform<T: Real>(t: Tensor<T>, node: &Tensor<T>) -> Result<Tensor<T>> {
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
/// The pass is all or nothing: the gradients are changed only once every contribution has
/// been computed, so after an error no gradient has changed.
///
/// Errors: [`ErrorKind::Shape`] if the seed's length differs from the root's `E * S`;
/// [`ErrorKind::Modified`] if an array whose values an operation's derivative needs was
/// written after the operation used it; [`ErrorKind::NoGradient`] if an intermediate result
/// that an operation used while it required a gradient has had `requires_grad` cleared since;
/// [`ErrorKind::OutOfMemory`]; [`ErrorKind::Graph`] for a cycle.
pub fn grad_reverse<T: Real>(root: &Tensor<T>, seed: Option<&[T]>) -> Result<()> {
    let rd = root.dims();
    if let Some(s) = seed {
        if s.len() != rd.len() {
            return Err(Error::shape(format!(
                "grad_reverse: seed has {} values, the result has {} ({:?} with batch {})",
                s.len(),
                rd.len(),
                root.shape(),
                rd.batch
            )));
        }
    }
    alloc::guard(
        || format!("grad_reverse (from {})", describe(root)),
        || reverse_pass(root, seed),
    )
}

fn reverse_pass<T: Real>(root: &Tensor<T>, seed: Option<&[T]>) -> Result<()> {
    let rd = root.dims();
    let order = topological_order(root, None)?;
    // every check first: an error leaves everything as it was
    for node in order.iter() {
        if let Some((op, inputs)) = node.op_and_inputs() {
            version::check("grad_reverse", node, &*op, &inputs, &node.saved())?;
        }
    }
    let seed = match seed {
        Some(s) => pool::copy(s),
        None => pool::filled(rd.len(), T::ONE),
    };
    let mut pending: Vec<Option<Grad<T>>> = alloc::filled(order.len(), None);
    if let Some(last) = pending.last_mut() {
        *last = Some(Grad::new(seed, rd));
    }
    // (node index, gradient) to add to the nodes' gradients once the pass is complete
    let mut results: Vec<(usize, Grad<T>)> = Vec::new();
    for (i, node) in order.iter().enumerate().rev() {
        let Some(g) = pending[i].take() else {
            continue;
        };
        let op_inputs = node.op_and_inputs();
        let keep = (op_inputs.is_none() && node.requires_grad()) || node.retains_grad();
        let Some((op, inputs)) = op_inputs else {
            if keep {
                alloc::reserve(&mut results, 1);
                results.push((i, g));
            }
            continue;
        };
        if keep {
            alloc::reserve(&mut results, 1);
            results.push((i, g.clone()));
        }
        let wants: Vec<bool> = alloc::collect(
            inputs.len(),
            inputs
                .iter()
                .map(|t| t.requires_grad() && order.position(t).is_some()),
        );
        let grads = alloc::guard_all(
            || rule_context("grad_reverse", "reverse", node, &inputs),
            || op.vjp(node, &inputs, &g, &wants),
        )?;
        drop(g);
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
            let Some(at) = order.position(input) else {
                continue;
            };
            let slot = &mut pending[at];
            match slot {
                Some(acc) => acc.add_assign(&gi),
                None => *slot = Some(gi),
            }
        }
    }
    drop(pending);
    // Gradient arrays for the nodes that have none yet: every allocation before any change.
    let mut fresh: Vec<Option<Tensor<T>>> = alloc::with_capacity(results.len());
    for (i, g) in &mut results {
        let node = &order[*i];
        // (the values move into the new array: what is left to add is empty)
        let made = (!node.has_grad()).then(|| {
            let g = std::mem::replace(g, Grad::new(Vec::new(), Dims::new(0, 0)));
            node.new_grad(Some(g.into_vec()))
        });
        fresh.push(made);
    }
    // Commit: nothing below allocates or fails.
    for node in order.iter().filter(|n| n.is_fixed()) {
        node.zero_grad();
    }
    for ((i, g), made) in results.iter().zip(fresh) {
        order[*i].accumulate_grad(g.as_slice(), made);
    }
    Ok(())
}

/// Sets to zero the gradient of every node reachable from `root` (root included), as diffstruc's
/// `zero_all_grads` does.
///
/// Errors: out of memory for the walk; a cycle.
pub fn zero_all_grads<T: Real>(root: &Tensor<T>) -> Result<()> {
    let order = alloc::guard(
        || format!("zero_all_grads (from {})", describe(root)),
        || topological_order(root, None),
    )?;
    for node in order.iter() {
        node.zero_grad();
    }
    Ok(())
}
