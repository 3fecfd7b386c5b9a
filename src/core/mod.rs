//! Array storage, the graph node type, and the differentiation passes.

pub(crate) mod alloc;
pub mod autodiff;
pub mod dims;
pub mod error;
pub mod graph;
mod node_rc;
pub mod pool;
pub mod print;
pub mod real;
pub(crate) mod small;
mod storage;
pub mod tensor;
pub mod threads;
pub(crate) mod version;

pub use autodiff::{grad_forward, grad_reverse, zero_all_grads, Grad};
pub use dims::Dims;
pub use error::{Error, ErrorKind, Result};
pub use graph::{duplicate_graph, find_id, partial};
pub use print::graph_dot;
pub use real::{Dtype, Real};
pub use small::OpRef;
pub use tensor::{bits, live_nodes, Flags, ReleaseHook, Tensor, UserData, Values, ValuesMut};
pub use threads::{num_threads, set_num_threads};
