//! Rust operator overloading on `&Tensor`, for convenience in Rust code and tests.
//!
//! These panic on incompatible shapes (like ndarray's operators); the fallible functions in
//! [`crate::ops`] return errors instead and are what the C ABI uses.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::ops::arith::{self, BinaryOp};
use crate::Tensor;

fn ok(r: crate::Result<Tensor>) -> Tensor {
    r.unwrap_or_else(|e| panic!("{e}"))
}

macro_rules! operator {
    ($trait:ident, $method:ident, $op:expr) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                ok(arith::binary($op, self, rhs))
            }
        }
        impl $trait<f32> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f32) -> Tensor {
                ok(arith::binary_scalar($op, self, rhs))
            }
        }
        impl $trait<&Tensor> for f32 {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                ok(arith::scalar_binary($op, self, rhs))
            }
        }
    };
}

operator!(Add, add, BinaryOp::Add);
operator!(Sub, sub, BinaryOp::Sub);
operator!(Mul, mul, BinaryOp::Mul);
operator!(Div, div, BinaryOp::Div);

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        ok(arith::neg(self))
    }
}
