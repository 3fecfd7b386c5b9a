//! Small inline containers for the per-node data that is almost always tiny (a node has one or
//! two inputs and a shape of rank at most five), so creating a node costs few allocations.

use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use super::real::Real;
use super::tensor::Tensor;
use crate::ops::Operation;

/// The inputs of a node: up to two inline. (`Many` and `from_vec` serve operations with more
/// inputs, such as custom operations.)
#[allow(dead_code)]
#[derive(Clone, Default)]
pub(crate) enum Inputs<T: Real> {
    #[default]
    Empty,
    One([Tensor<T>; 1]),
    Two([Tensor<T>; 2]),
    Many(Vec<Tensor<T>>),
}

impl<T: Real> Inputs<T> {
    pub(crate) fn one(a: Tensor<T>) -> Self {
        Inputs::One([a])
    }
    pub(crate) fn two(a: Tensor<T>, b: Tensor<T>) -> Self {
        Inputs::Two([a, b])
    }
    #[allow(dead_code)]
    pub(crate) fn from_vec(mut v: Vec<Tensor<T>>) -> Self {
        match v.len() {
            0 => Inputs::Empty,
            1 => Inputs::One([v.remove(0)]),
            2 => {
                let b = v.remove(1);
                Inputs::Two([v.remove(0), b])
            }
            _ => Inputs::Many(v),
        }
    }
    pub(crate) fn as_slice(&self) -> &[Tensor<T>] {
        match self {
            Inputs::Empty => &[],
            Inputs::One(a) => a,
            Inputs::Two(a) => a,
            Inputs::Many(v) => v,
        }
    }
    /// Moves the inputs out as owned node references (for an iterative drop).
    pub(crate) fn drain_into(self, out: &mut Vec<Tensor<T>>) {
        match self {
            Inputs::Empty => {}
            Inputs::One([a]) => out.push(a),
            Inputs::Two([a, b]) => out.extend([a, b]),
            Inputs::Many(v) => out.extend(v),
        }
    }
}

impl<T: Real> Deref for Inputs<T> {
    type Target = [Tensor<T>];
    fn deref(&self) -> &[Tensor<T>] {
        self.as_slice()
    }
}

/// A per-sample shape: up to six extents inline.
#[derive(Clone)]
pub(crate) enum Shape {
    Inline(u8, [usize; 6]),
    Heap(Box<[usize]>),
}

impl Shape {
    pub(crate) fn new(dims: &[usize]) -> Self {
        if dims.len() <= 6 {
            let mut a = [0; 6];
            a[..dims.len()].copy_from_slice(dims);
            Shape::Inline(dims.len() as u8, a)
        } else {
            Shape::Heap(dims.into())
        }
    }
}

impl Deref for Shape {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        match self {
            Shape::Inline(n, a) => &a[..*n as usize],
            Shape::Heap(v) => v,
        }
    }
}

/// The operation that produced a node: a shared static instance for the built-in operations
/// without parameters, a reference-counted one otherwise (parameters, custom operations).
#[derive(Clone)]
pub enum OpRef<T: Real = f32> {
    /// A built-in operation instance that lives for the whole program.
    Static(&'static dyn Operation<T>),
    /// An operation with its own state.
    Shared(Arc<dyn Operation<T>>),
}

impl<T: Real> Deref for OpRef<T> {
    type Target = dyn Operation<T>;
    fn deref(&self) -> &(dyn Operation<T> + 'static) {
        match self {
            OpRef::Static(op) => *op,
            OpRef::Shared(op) => &**op,
        }
    }
}

/// Hasher for maps keyed by node addresses (already well distributed, no DoS concern).
#[derive(Default)]
pub(crate) struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = ((n as u64) >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// `HashMap` keyed by node address.
pub(crate) type PtrMap<V> = std::collections::HashMap<*const (), V, BuildHasherDefault<PtrHasher>>;
