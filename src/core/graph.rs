//! Whole-graph utilities with diffstruc's names: `duplicate_graph` and `get_ptr_from_id`.
//! Both walk iteratively, so any depth is fine.

use super::alloc;
use super::autodiff::topological_order;
use super::small::{Inputs, PtrMap};
use super::tensor::bits;
use super::{Result, Tensor};

/// A deep copy of the graph under `root`: every node reachable through the inputs is copied once
/// (values, flags, tags and gradient copied; sharing preserved), except nodes marked fixed
/// (`fix_pointer`), which the copy refers to as they are. Every copy is temporary.
///
/// Errors: the graph has a cycle; out of memory.
pub fn duplicate_graph(root: &Tensor) -> Result<Tensor> {
    alloc::guard(
        || format!("duplicate_graph (of {})", crate::ops::describe(root)),
        || duplicate(root),
    )
}

fn duplicate(root: &Tensor) -> Result<Tensor> {
    let mut copies: PtrMap<Tensor> = PtrMap::default();
    for node in topological_order(root, None)? {
        let copy = if node.is_fixed() {
            node.clone()
        } else {
            let c = node.copy_node();
            c.set_flag_bits(bits::TEMPORARY, bits::TEMPORARY);
            if let Some((op, inputs)) = node.op_and_inputs() {
                let mapped: Vec<Tensor> = alloc::collect(
                    inputs.len(),
                    inputs
                        .iter()
                        .map(|i| copies.get(&i.key()).cloned().unwrap_or_else(|| i.clone())),
                );
                let saved = node.saved().rebase(&node, &inputs, &c, &mapped);
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
pub fn find_id(root: &Tensor, id: i64) -> Option<Tensor> {
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
