//! Element-wise maths: `exp log log10 sqrt abs sigmoid sin cos tan tanh asin acos atan sinh cosh
//! gaussian` and negation.
//!
//! For each function: its value kernel, its derivative as numbers (reverse kernel, from the input
//! `x` and the output `c`) and its derivative as a graph (forward rule), side by side.

use std::sync::Arc;

use super::arith::{add_scalar, div, mul, mul_scalar, neg, scalar_sub, sub_scalar};
use super::vmath::{Deriv, Func};
use super::{describe, Operation, SAVED_RESULT};
use crate::core::alloc;
use crate::core::small::Inputs;
use crate::core::{pool, Error, Grad, OpRef, Real, Result, Tensor};

/// An element-wise function of one array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-a`
    Neg,
    /// `exp(a)`
    Exp,
    /// natural logarithm
    Log,
    /// base-10 logarithm
    Log10,
    /// square root
    Sqrt,
    /// absolute value (derivative `sign(a)`, 0 at 0)
    Abs,
    /// `1 / (1 + exp(-a))`
    Sigmoid,
    /// sine
    Sin,
    /// cosine
    Cos,
    /// tangent
    Tan,
    /// hyperbolic tangent
    Tanh,
    /// arc sine (documented by diffstruc, not shipped in v1.1.1)
    Asin,
    /// arc cosine
    Acos,
    /// arc tangent
    Atan,
    /// hyperbolic sine
    Sinh,
    /// hyperbolic cosine
    Cosh,
}

impl UnaryOp {
    /// diffstruc's operation name.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "negate",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Log10 => "log10",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tan => "tan",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Asin => "asin",
            UnaryOp::Acos => "acos",
            UnaryOp::Atan => "atan",
            UnaryOp::Sinh => "sinh",
            UnaryOp::Cosh => "cosh",
        }
    }

    /// Value kernel: `f(x)` for every element. The transcendental functions use the
    /// vectorised kernels of [`vmath`].
    fn values<T: Real>(self, x: &[T]) -> Vec<T> {
        let f = match self {
            UnaryOp::Neg => return pool::collect(x.len(), x.iter().map(|&x| -x)),
            UnaryOp::Abs => return pool::collect(x.len(), x.iter().map(|&x| x.abs())),
            // the C library's (no vectorised kernel)
            UnaryOp::Asin => return pool::collect(x.len(), x.iter().map(|&x| x.asin())),
            UnaryOp::Acos => return pool::collect(x.len(), x.iter().map(|&x| x.acos())),
            UnaryOp::Atan => return pool::collect(x.len(), x.iter().map(|&x| x.atan())),
            UnaryOp::Sinh => return pool::collect(x.len(), x.iter().map(|&x| x.sinh())),
            UnaryOp::Cosh => return pool::collect(x.len(), x.iter().map(|&x| x.cosh())),
            UnaryOp::Exp => Func::Exp,
            UnaryOp::Log => Func::Ln,
            UnaryOp::Log10 => Func::Log10,
            UnaryOp::Sqrt => Func::Sqrt,
            UnaryOp::Sigmoid => Func::Sigmoid,
            UnaryOp::Sin => Func::Sin,
            UnaryOp::Cos => Func::Cos,
            UnaryOp::Tan => Func::Tan,
            UnaryOp::Tanh => Func::Tanh,
        };
        T::eval_vec(f, x)
    }

    /// Reverse kernel: `g * f'(x)` for every element, given the input `x` and output `c`. Each
    /// [`vmath`] derivative kernel evaluates exactly the expression of [`Self::tangent`]'s graph
    /// (same operations, same order), so reverse and forward mode agree bit for bit.
    fn backward<T: Real>(self, g: &[T], x: &[T], c: &[T]) -> Vec<T> {
        let one = T::ONE;
        let (d, v) = match self {
            UnaryOp::Neg => return pool::collect(g.len(), g.iter().map(|&g| -g)),
            UnaryOp::Abs => {
                let it = g.iter().zip(x).map(|(&g, &x)| g * sign0(x));
                return pool::collect(g.len(), it);
            }
            // the expressions of `tangent`'s graphs, operation for operation
            UnaryOp::Asin => {
                let it = g.iter().zip(x).map(|(&g, &x)| g / (one - x * x).sqrt());
                return pool::collect(g.len(), it);
            }
            UnaryOp::Acos => {
                let it = g.iter().zip(x).map(|(&g, &x)| -(g / (one - x * x).sqrt()));
                return pool::collect(g.len(), it);
            }
            UnaryOp::Atan => {
                let it = g.iter().zip(x).map(|(&g, &x)| g / (x * x + one));
                return pool::collect(g.len(), it);
            }
            UnaryOp::Sinh => {
                let it = g.iter().zip(x).map(|(&g, &x)| g * x.cosh());
                return pool::collect(g.len(), it);
            }
            UnaryOp::Cosh => {
                let it = g.iter().zip(x).map(|(&g, &x)| g * x.sinh());
                return pool::collect(g.len(), it);
            }
            UnaryOp::Exp => (Deriv::Exp, c),
            UnaryOp::Log => (Deriv::Ln, x),
            UnaryOp::Log10 => (Deriv::Log10, x),
            UnaryOp::Sqrt => (Deriv::Sqrt, c),
            UnaryOp::Sigmoid => (Deriv::Sigmoid, c),
            UnaryOp::Sin => (Deriv::Sin, x),
            UnaryOp::Cos => (Deriv::Cos, x),
            UnaryOp::Tan => (Deriv::Tan, c),
            UnaryOp::Tanh => (Deriv::Tanh, c),
        };
        T::deriv_vec(d, g, v)
    }

    /// The tangent `f'(x) * t` as a differentiable graph, given `x`, `c = f(x)` and `t`.
    fn tangent<T: Real>(self, x: &Tensor<T>, c: &Tensor<T>, t: &Tensor<T>) -> Result<Tensor<T>> {
        let one = T::ONE;
        match self {
            UnaryOp::Neg => neg(t),
            UnaryOp::Exp => mul(t, c),
            UnaryOp::Log => div(t, x),
            UnaryOp::Log10 => div(t, &mul_scalar(x, T::LN_10)?),
            UnaryOp::Sqrt => div(&mul_scalar(t, T::from_f64(0.5))?, c),
            UnaryOp::Abs => mul(t, &map_constant(x, sign0)),
            UnaryOp::Sigmoid => mul(t, &mul(c, &scalar_sub(one, c)?)?),
            UnaryOp::Sin => mul(t, &cos(x)?),
            UnaryOp::Cos => neg(&mul(t, &sin(x)?)?),
            UnaryOp::Tan => mul(t, &add_scalar(&mul(c, c)?, one)?),
            UnaryOp::Tanh => mul(t, &scalar_sub(one, &mul(c, c)?)?),
            UnaryOp::Asin => div(t, &unary(UnaryOp::Sqrt, &scalar_sub(one, &mul(x, x)?)?)?),
            UnaryOp::Acos => neg(&div(
                t,
                &unary(UnaryOp::Sqrt, &scalar_sub(one, &mul(x, x)?)?)?,
            )?),
            UnaryOp::Atan => div(t, &add_scalar(&mul(x, x)?, one)?),
            UnaryOp::Sinh => mul(t, &unary(UnaryOp::Cosh, x)?),
            UnaryOp::Cosh => mul(t, &unary(UnaryOp::Sinh, x)?),
        }
    }
}

/// Sign with `sign0(0) = 0`: the derivative of `|x|` (a subgradient at 0).
fn sign0<T: Real>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        T::ZERO * x
    }
}

/// A constant (no graph) holding `f` applied to each value of `x`.
fn map_constant<T: Real>(x: &Tensor<T>, f: fn(T) -> T) -> Tensor<T> {
    let v = x.values();
    let data = pool::collect(v.len(), v.iter().map(|&v| f(v)));
    drop(v);
    Tensor::constant(
        x.shape(),
        x.batch(),
        data,
        x.is_sample_dependent(),
        x.is_scalar(),
    )
}

struct Unary(UnaryOp);

/// Shared instances, indexed by `UnaryOp as usize`.
static UNARY: [Unary; 16] = [
    Unary(UnaryOp::Neg),
    Unary(UnaryOp::Exp),
    Unary(UnaryOp::Log),
    Unary(UnaryOp::Log10),
    Unary(UnaryOp::Sqrt),
    Unary(UnaryOp::Abs),
    Unary(UnaryOp::Sigmoid),
    Unary(UnaryOp::Sin),
    Unary(UnaryOp::Cos),
    Unary(UnaryOp::Tan),
    Unary(UnaryOp::Tanh),
    Unary(UnaryOp::Asin),
    Unary(UnaryOp::Acos),
    Unary(UnaryOp::Atan),
    Unary(UnaryOp::Sinh),
    Unary(UnaryOp::Cosh),
];

/// Applies an element-wise function.
pub fn unary<T: Real>(op: UnaryOp, a: &Tensor<T>) -> Result<Tensor<T>> {
    let data = alloc::guard_op(op.name(), &[a], || Ok(op.values(&a.values())))?;
    Ok(Tensor::from_op(
        a.shape(),
        a.batch(),
        data,
        a.flags(),
        OpRef::Static(&UNARY[op as usize]),
        Inputs::one(a.clone()),
    ))
}

impl<T: Real> Operation<T> for Unary {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn saved_for(&self, _: usize) -> u64 {
        match self.0 {
            UnaryOp::Neg => 0,
            UnaryOp::Abs
            | UnaryOp::Log
            | UnaryOp::Log10
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Asin
            | UnaryOp::Acos
            | UnaryOp::Atan
            | UnaryOp::Sinh
            | UnaryOp::Cosh => 1,
            UnaryOp::Exp | UnaryOp::Sqrt | UnaryOp::Sigmoid | UnaryOp::Tan | UnaryOp::Tanh => {
                SAVED_RESULT
            }
        }
    }
    fn jvp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        t[0].as_ref()
            .map(|t| self.0.tangent(&x[0], out, t))
            .transpose()
    }
    fn vjp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        _: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        let data = self.0.backward(g.as_slice(), &x[0].values(), &out.values());
        Ok(vec![Some(Grad::new(data, out.dims()))])
    }
}

/// `exp(a)`.
pub fn exp<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    unary(UnaryOp::Exp, a)
}
/// `log(a)`.
pub fn log<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    unary(UnaryOp::Log, a)
}
/// `sin(a)`.
pub fn sin<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    unary(UnaryOp::Sin, a)
}
/// `cos(a)`.
pub fn cos<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    unary(UnaryOp::Cos, a)
}
/// `tanh(a)`.
pub fn tanh<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    unary(UnaryOp::Tanh, a)
}

// ---- gaussian ---------------------------------------------------------------------------------

/// `exp(-((a - mu) / sigma)^2 / 2) / (sqrt(2 pi) sigma)`. The constants are kept in a `[2]`
/// constant operand `[mu, sigma]`, as diffstruc does.
pub fn gaussian<T: Real>(a: &Tensor<T>, mu: T, sigma: T) -> Result<Tensor<T>> {
    if sigma <= T::ZERO || sigma.is_nan() {
        return Err(Error::argument(format!(
            "gaussian: sigma must be positive (got {sigma}) for an array {}",
            describe(a)
        )));
    }
    let data = alloc::guard_op("gaussian", &[a], || {
        Ok(T::gaussian_vec(&a.values(), mu, sigma))
    })?;
    let params = Tensor::constant(&[2], 1, vec![mu, sigma], false, false);
    Ok(Tensor::from_op(
        a.shape(),
        a.batch(),
        data,
        a.flags(),
        OpRef::Shared(Arc::new(Gaussian { mu, sigma })),
        Inputs::two(a.clone(), params),
    ))
}

struct Gaussian<T> {
    mu: T,
    sigma: T,
}

impl<T: Real> Operation<T> for Gaussian<T> {
    fn name(&self) -> &str {
        "gaussian"
    }
    /// The input and the result (`mu` and `sigma` are kept by the operation).
    fn saved_for(&self, _: usize) -> u64 {
        1 | SAVED_RESULT
    }
    /// `d/da = -c (a - mu) / sigma^2`.
    fn jvp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        let Some(t) = &t[0] else { return Ok(None) };
        let k = -T::ONE / (self.sigma * self.sigma);
        let d = mul_scalar(&mul(out, &sub_scalar(&x[0], self.mu)?)?, k)?;
        Ok(Some(mul(t, &d)?))
    }
    fn vjp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        _: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        // the forward rule's expression, `g * ((c * (x - mu)) * k)`
        let (xv, cv) = (x[0].values(), out.values());
        let data = T::gaussian_deriv_vec(g.as_slice(), &xv, &cv, self.mu, self.sigma);
        Ok(vec![Some(Grad::new(data, out.dims())), None])
    }
}
