//! Array storage, the graph node type, and the differentiation passes.

pub mod autodiff;
pub mod dims;
pub mod error;
pub(crate) mod pool;
mod storage;
pub mod tensor;

pub use autodiff::{grad_forward, grad_reverse, Grad};
pub use dims::Dims;
pub use error::{Error, ErrorKind, Result};
pub use tensor::{live_nodes, Flags, Tensor, Values, ValuesMut};
