//! Whole-graph utilities with diffstruc's names: `duplicate_graph` and `get_ptr_from_id`.
//! Both walk iteratively, so any depth is fine.

use super::alloc;
use super::autodiff::topological_order;
use super::real::Real;
use super::small::{Inputs, PtrMap};
use super::tensor::bits;
use super::{Error, ErrorKind, Grad, Result, Tensor};

/// A deep copy of the graph under `root`: every node reachable through the inputs that need a
/// gradient is copied once (values, flags, tags and gradient copied; sharing preserved), and so
/// is every leaf input that needs none (a snapshot of the program's inputs), except nodes
/// marked fixed (`fix_pointer`), which the copy refers to as they are. Every copy is temporary.
///
/// Errors: the graph has a cycle; out of memory.
pub fn duplicate_graph<T: Real>(root: &Tensor<T>) -> Result<Tensor<T>> {
    alloc::guard(
        || format!("duplicate_graph (of {})", crate::ops::describe(root)),
        || duplicate(root),
    )
}

fn duplicate<T: Real>(root: &Tensor<T>) -> Result<Tensor<T>> {
    let mut copies: PtrMap<Tensor<T>> = PtrMap::default();
    for node in topological_order(root, None)?.iter() {
        let copy = if node.is_fixed() {
            node.clone()
        } else {
            let c = node.copy_node();
            c.set_flag_bits(bits::TEMPORARY, bits::TEMPORARY);
            if let Some((op, inputs)) = node.op_and_inputs() {
                let mut mapped: Vec<Tensor<T>> = alloc::with_capacity(inputs.len());
                for i in inputs.iter() {
                    if let Some(c) = copies.get(&i.key()) {
                        mapped.push(c.clone());
                    } else if i.is_fixed() || i.op_and_inputs().is_some() {
                        mapped.push(i.clone());
                    } else {
                        // a leaf that needs no gradient (an input): copied too, so that the
                        // copy keeps the values of the time when the program overwrites them
                        let c = i.copy_node();
                        c.set_flag_bits(bits::TEMPORARY, bits::TEMPORARY);
                        alloc::reserve_map(&mut copies, 1);
                        copies.insert(i.key(), c.clone());
                        mapped.push(c);
                    }
                }
                let saved = node.saved().rebase(node, &inputs, &c, &mapped);
                c.link_copy(op, Inputs::from_vec(mapped), node.owns_bits(), saved);
            }
            c
        };
        alloc::reserve_map(&mut copies, 1);
        copies.insert(node.key(), copy);
    }
    Ok(copies
        .remove(&root.key())
        .unwrap_or_else(|| root.copy_node()))
}

/// diffstruc's `get_ptr_from_id`: the first node, in pre-order (a node, then its inputs from the
/// first), whose `id` tag is `id`; `None` if there is none. Out of memory for the walk: unwinds
/// with the [`crate::Error`] as payload (the C ABI reports it as `DS_ERR_MEMORY`).
pub fn find_id<T: Real>(root: &Tensor<T>, id: i64) -> Option<Tensor<T>> {
    let mut seen: PtrMap<()> = PtrMap::default();
    let mut stack = vec![root.clone()];
    while let Some(node) = stack.pop() {
        alloc::reserve_map(&mut seen, 1);
        if seen.insert(node.key(), ()).is_some() {
            continue;
        }
        if node.id() == id {
            return Some(node);
        }
        let inputs = node.input_list();
        alloc::reserve(&mut stack, inputs.len());
        stack.extend(inputs.iter().rev().cloned());
    }
    None
}

/// The reverse rule of `node`'s operation for its input `k` alone: the vector-Jacobian product
/// of `upstream` (extents of `node`) with respect to input `k`, summed back to that input's
/// extents (diffstruc's `get_partial_left_val`/`get_partial_right_val` of a built-in result).
///
/// Errors: `node` has no operation (a leaf, or its graph was nullified), `k` is not an input,
/// or `upstream` has the wrong length.
pub fn partial<T: Real>(node: &Tensor<T>, k: usize, upstream: &[T]) -> Result<Vec<T>> {
    let Some((op, inputs)) = node.op_and_inputs() else {
        return Err(Error::new(
            ErrorKind::Argument,
            "partial: the array has no operation (a leaf, or its graph was nullified)",
        ));
    };
    let inputs = inputs.to_vec();
    let Some(input) = inputs.get(k) else {
        return Err(Error::new(
            ErrorKind::Argument,
            format!(
                "partial: '{}' has {} input(s), asked for input {k}",
                op.name(),
                inputs.len()
            ),
        ));
    };
    let dims = node.dims();
    if upstream.len() != dims.len() {
        return Err(Error::shape(format!(
            "partial: upstream has {} values, '{}' has {} ({} x {})",
            upstream.len(),
            op.name(),
            dims.len(),
            dims.elems,
            dims.batch
        )));
    }
    let mut wants = vec![false; inputs.len()];
    wants[k] = true;
    let g = Grad::new(upstream.to_vec(), dims);
    let to = input.dims();
    let grads = op.vjp(node, &inputs, &g, &wants)?;
    Ok(match grads.into_iter().nth(k).flatten() {
        Some(gi) if gi.dims() == to => gi.as_slice().to_vec(),
        Some(gi) => super::dims::reduce_to(gi.as_slice(), gi.dims(), to),
        None => vec![T::ZERO; to.len()],
    })
}
