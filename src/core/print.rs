//! `print_graph`: the operand tree of a node in diffstruc's text format.

use super::real::Real;
use super::tensor::Tensor;

/// Most lines printed; a shared DAG printed as a tree can be exponentially large.
const MAX_LINES: usize = 100_000;
/// Most bytes printed in all.
const MAX_BYTES: usize = 16 << 20;
/// Deepest prefix printed (about 300 levels): deeper subtrees are elided, so that a deep chain
/// or a cyclic graph costs bounded memory.
const MAX_PREFIX: usize = 4096;

/// The tree under `root`, one line per node (pre-order: node, left subtree, right subtree;
/// shared nodes appear under every parent), without diffstruc's header/footer lines and without
/// the leading blank of list-directed output. `address` gives the number printed after `@`
/// when `print_location` is set.
pub fn graph_lines<T: Real>(root: &Tensor<T>, print_location: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut bytes = 0usize;
    // (node, prefix) in pre-order via an explicit stack (right pushed before left)
    let mut stack: Vec<(Tensor<T>, String)> = vec![(root.clone(), String::new())];
    while let Some((node, prefix)) = stack.pop() {
        if lines.len() == MAX_LINES || bytes > MAX_BYTES {
            lines.push("... (graph truncated)".to_string());
            break;
        }
        let location = if print_location {
            format!("@{}", node.key() as usize)
        } else {
            String::new()
        };
        let trimmed = prefix.trim_end();
        lines.push(format!("{trimmed}└─ [{}]{location}", node.operation()));
        bytes += lines.last().map_or(0, String::len) + 1;
        let inputs = node.inputs();
        if trimmed.len() > MAX_PREFIX && !inputs.is_empty() {
            lines.push(format!("{trimmed}   └─ ... (deeper levels not shown)"));
            continue;
        }
        let mark = |i: usize| if node.owns_input(i) { '*' } else { ' ' };
        let mut children = Vec::new();
        if let Some(left) = inputs.first() {
            let connector = if inputs.len() > 1 { "├─" } else { "└─" };
            children.push((
                left.clone(),
                format!("{trimmed}   {connector}{}L: ", mark(0)),
            ));
        }
        if let Some(right) = inputs.get(1) {
            children.push((right.clone(), format!("{trimmed}   └─{}R: ", mark(1))));
        }
        stack.extend(children.into_iter().rev());
    }
    lines
}

/// Most nodes drawn by [`graph_dot`]; larger graphs end with a note node.
const MAX_DOT_NODES: usize = 10_000;

/// The graph under `root` as Graphviz DOT text: one node per array (shared nodes drawn once),
/// labelled with its operation (`none` for a leaf), per-sample shape and batch size, an edge from
/// each input to the node using it. Leaves that require a gradient are drawn as boxes, other
/// leaves dotted; `root` is drawn bold.
pub fn graph_dot<T: Real>(root: &Tensor<T>) -> String {
    use std::fmt::Write;
    let mut ids: super::small::PtrMap<usize> = super::small::PtrMap::default();
    let mut out = String::from("digraph diffstruc {\n  rankdir=BT;\n  node [shape=ellipse];\n");
    let mut stack = vec![root.clone()];
    ids.insert(root.key(), 0);
    let mut edges = String::new();
    while let Some(node) = stack.pop() {
        let id = ids[&node.key()];
        let shape = node
            .shape()
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let inputs = node.inputs();
        let style = if id == 0 {
            ", style=bold"
        } else if inputs.is_empty() && node.requires_grad() {
            ", shape=box"
        } else if inputs.is_empty() {
            ", shape=box, style=dotted"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  n{id} [label=\"{}\\n[{shape}] x {}\"{style}];",
            node.operation().replace('"', "'"),
            node.batch()
        );
        for input in inputs {
            let next = ids.len();
            let input_id = *ids.entry(input.key()).or_insert_with(|| {
                stack.push(input.clone());
                next
            });
            let _ = writeln!(edges, "  n{input_id} -> n{id};");
        }
        if ids.len() > MAX_DOT_NODES {
            out.push_str("  more [label=\"... (graph truncated)\", shape=plaintext];\n");
            break;
        }
    }
    out.push_str(&edges);
    out.push_str("}\n");
    out
}
