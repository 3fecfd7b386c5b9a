//! # diffstruc
//!
//! A reverse- and forward-mode automatic differentiation core for f32 arrays in diffstruc's
//! convention (a per-sample shape plus a trailing batch dimension, stored column-major as
//! `(elements, batch)`), exported through a C ABI (`include/diffstruc.h`) on which a
//! source-compatible Fortran module `diffstruc` is built.
//!
//! * [`Tensor`] is a reference-counted handle to a graph node; nodes live exactly as long as
//!   something refers to them.
//! * [`grad_forward`] builds a differentiable JVP graph (apply it again for higher orders);
//!   [`grad_reverse`] accumulates gradients into leaves in one pass over the DAG.
//! * Operations live in [`ops`], one file per family.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod core;
pub mod ffi;
pub mod ops;
mod tensor_ops;

pub use crate::core::{
    duplicate_graph, find_id, grad_forward, grad_reverse, graph_dot, live_nodes, partial, Dims,
    Error, ErrorKind, Flags, Grad, Result, Tensor,
};
pub use crate::ops::arith::{
    add, add_scalar, binary, binary_real1d, binary_real2d, binary_scalar, div, div_scalar, max,
    mul, mul_scalar, neg, pow, pow_scalar, real2d_binary, scalar_binary, scalar_div, scalar_sub,
    sign, sub, sub_scalar, BinaryOp,
};
pub use crate::ops::linalg::{
    dot_product, matmul, matmul_real2d, outer_product, real2d_matmul, transpose,
};
pub use crate::ops::movement::{
    concat, cut, index, merge, merge_real2d, merge_scalar, pack_indices, pack_mask, reshape,
    reverse_index, scalar_merge, spread, sum_pad, unpack_indices, unpack_mask, unspread, Cut,
};
pub use crate::ops::reduce::{mean, mean_all, sum, sum_all};
pub use crate::ops::unary::{gaussian, unary, UnaryOp};
pub use crate::ops::Operation;
