//! Rust operator overloading on `&Tensor`, for convenience in Rust code and tests.
//!
//! These panic on incompatible shapes (like ndarray's operators); the fallible functions in
//! [`crate::ops`] return errors instead and are what the C ABI uses.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::core::Real;
use crate::ops::arith::{self, BinaryOp};
use crate::Tensor;

fn ok<T: Real>(r: crate::Result<Tensor<T>>) -> Tensor<T> {
    r.unwrap_or_else(|e| panic!("{e}"))
}

macro_rules! operator {
    ($trait:ident, $method:ident, $op:expr, $($t:ty),*) => {$(
        impl $trait<&Tensor<$t>> for &Tensor<$t> {
            type Output = Tensor<$t>;
            fn $method(self, rhs: &Tensor<$t>) -> Tensor<$t> {
                ok(arith::binary($op, self, rhs))
            }
        }
        impl $trait<$t> for &Tensor<$t> {
            type Output = Tensor<$t>;
            fn $method(self, rhs: $t) -> Tensor<$t> {
                ok(arith::binary_scalar($op, self, rhs))
            }
        }
        impl $trait<&Tensor<$t>> for $t {
            type Output = Tensor<$t>;
            fn $method(self, rhs: &Tensor<$t>) -> Tensor<$t> {
                ok(arith::scalar_binary($op, self, rhs))
            }
        }
    )*};
}

operator!(Add, add, BinaryOp::Add, f32, f64);
operator!(Sub, sub, BinaryOp::Sub, f32, f64);
operator!(Mul, mul, BinaryOp::Mul, f32, f64);
operator!(Div, div, BinaryOp::Div, f32, f64);

impl<T: Real> Neg for &Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        ok(arith::neg(self))
    }
}
