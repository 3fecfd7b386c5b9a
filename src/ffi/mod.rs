//! The C ABI (`ds_` prefix). Thin: every exported function checks its pointers, looks up its
//! handles, calls one core function inside [`boundary`], and returns a [`ds_status`].
//!
//! Files: [`status`] (codes, last error, panic boundary), [`handle`] (the handle table),
//! [`array`] (create, wrap, free, query, zero-copy access), [`ops`] (arithmetic, maths, reductions, linear algebra), [`movement`] (data movement and selection),
//! [`autodiff`] (differentiation and graph control), [`graph`] (graph inspection),
//! [`ownership`] (caller objects owned by graph nodes), [`threads`] (the thread setting).

#![allow(non_camel_case_types)]
// These are C entry points: C callers pass raw pointers under the contract each function
// documents (valid for the stated length, or NULL where allowed). Marking them `unsafe fn`
// would change nothing for C, so the lint is silenced here once.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod any;
pub mod array;
pub mod autodiff;
pub mod binding;
pub mod custom;
pub mod graph;
pub mod handle;
pub mod movement;
pub mod ops;
pub mod ownership;
pub mod status;
pub mod threads;

pub use handle::ds_array;
pub use status::ds_status;
