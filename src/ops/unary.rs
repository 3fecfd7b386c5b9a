//! Element-wise maths: `exp log log10 sqrt abs sigmoid sin cos tan tanh gaussian` and negation.
//!
//! For each function: its value kernel, its derivative as numbers (reverse kernel, from the input
//! `x` and the output `c`) and its derivative as a graph (forward rule), side by side.

use std::sync::Arc;

use super::arith::{add_scalar, div, mul, mul_scalar, neg, scalar_sub, sub_scalar};
use super::{describe, Operation};
use crate::core::small::Inputs;
use crate::core::{pool, Error, Grad, OpRef, Result, Tensor};

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
        }
    }

    /// Value kernel: `f(x)` for every element. One loop per function so each vectorises.
    fn values(self, x: &[f32]) -> Vec<f32> {
        fn map(x: &[f32], f: impl Fn(f32) -> f32) -> Vec<f32> {
            pool::collect(x.len(), x.iter().map(|&v| f(v)))
        }
        match self {
            UnaryOp::Neg => map(x, |x| -x),
            UnaryOp::Exp => map(x, f32::exp),
            UnaryOp::Log => map(x, f32::ln),
            UnaryOp::Log10 => map(x, f32::log10),
            UnaryOp::Sqrt => map(x, f32::sqrt),
            UnaryOp::Abs => map(x, f32::abs),
            UnaryOp::Sigmoid => map(x, |x| 1.0 / (1.0 + (-x).exp())),
            UnaryOp::Sin => map(x, f32::sin),
            UnaryOp::Cos => map(x, f32::cos),
            UnaryOp::Tan => map(x, f32::tan),
            UnaryOp::Tanh => map(x, f32::tanh),
        }
    }

    /// Reverse kernel: `g * f'(x)` for every element, given the input `x` and output `c`.
    fn backward(self, g: &[f32], x: &[f32], c: &[f32]) -> Vec<f32> {
        fn zip(g: &[f32], v: &[f32], f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
            pool::collect(g.len(), g.iter().zip(v).map(|(&g, &v)| f(g, v)))
        }
        match self {
            UnaryOp::Neg => pool::collect(g.len(), g.iter().map(|&g| -g)),
            UnaryOp::Exp => zip(g, c, |g, c| g * c),
            UnaryOp::Log => zip(g, x, |g, x| g / x),
            UnaryOp::Log10 => zip(g, x, |g, x| g / (x * std::f32::consts::LN_10)),
            UnaryOp::Sqrt => zip(g, c, |g, c| g * 0.5 / c),
            UnaryOp::Abs => zip(g, x, |g, x| g * sign0(x)),
            UnaryOp::Sigmoid => zip(g, c, |g, c| g * c * (1.0 - c)),
            UnaryOp::Sin => zip(g, x, |g, x| g * x.cos()),
            UnaryOp::Cos => zip(g, x, |g, x| -g * x.sin()),
            UnaryOp::Tan => zip(g, c, |g, c| g * (1.0 + c * c)),
            UnaryOp::Tanh => zip(g, c, |g, c| g * (1.0 - c * c)),
        }
    }

    /// The tangent `f'(x) * t` as a differentiable graph, given `x`, `c = f(x)` and `t`.
    fn tangent(self, x: &Tensor, c: &Tensor, t: &Tensor) -> Result<Tensor> {
        match self {
            UnaryOp::Neg => neg(t),
            UnaryOp::Exp => mul(t, c),
            UnaryOp::Log => div(t, x),
            UnaryOp::Log10 => div(t, &mul_scalar(x, std::f32::consts::LN_10)?),
            UnaryOp::Sqrt => div(&mul_scalar(t, 0.5)?, c),
            UnaryOp::Abs => mul(t, &map_constant(x, sign0)),
            UnaryOp::Sigmoid => mul(t, &mul(c, &scalar_sub(1.0, c)?)?),
            UnaryOp::Sin => mul(t, &cos(x)?),
            UnaryOp::Cos => neg(&mul(t, &sin(x)?)?),
            UnaryOp::Tan => mul(t, &add_scalar(&mul(c, c)?, 1.0)?),
            UnaryOp::Tanh => mul(t, &scalar_sub(1.0, &mul(c, c)?)?),
        }
    }
}

/// Sign with `sign0(0) = 0`: the derivative of `|x|` (a subgradient at 0).
fn sign0(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0 * x
    }
}

/// A constant (no graph) holding `f` applied to each value of `x`.
fn map_constant(x: &Tensor, f: fn(f32) -> f32) -> Tensor {
    let data = x.values().iter().map(|&v| f(v)).collect();
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
static UNARY: [Unary; 11] = [
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
];

/// Applies an element-wise function.
pub fn unary(op: UnaryOp, a: &Tensor) -> Result<Tensor> {
    let data = op.values(&a.values());
    Ok(Tensor::from_op(
        a.shape(),
        a.batch(),
        data,
        a.flags(),
        OpRef::Static(&UNARY[op as usize]),
        Inputs::one(a.clone()),
    ))
}

impl Operation for Unary {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn jvp(&self, out: &Tensor, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Option<Tensor>> {
        t[0].as_ref()
            .map(|t| self.0.tangent(&x[0], out, t))
            .transpose()
    }
    fn vjp(&self, out: &Tensor, x: &[Tensor], g: &Grad, _: &[bool]) -> Result<Vec<Option<Grad>>> {
        let data = self.0.backward(g.as_slice(), &x[0].values(), &out.values());
        Ok(vec![Some(Grad::new(data, out.dims()))])
    }
}

/// `exp(a)`.
pub fn exp(a: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Exp, a)
}
/// `log(a)`.
pub fn log(a: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Log, a)
}
/// `sin(a)`.
pub fn sin(a: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Sin, a)
}
/// `cos(a)`.
pub fn cos(a: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Cos, a)
}
/// `tanh(a)`.
pub fn tanh(a: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Tanh, a)
}

// ---- gaussian ---------------------------------------------------------------------------------

/// `exp(-((a - mu) / sigma)^2 / 2) / (sqrt(2 pi) sigma)`. The constants are kept in a `[2]`
/// constant operand `[mu, sigma]`, as diffstruc does.
pub fn gaussian(a: &Tensor, mu: f32, sigma: f32) -> Result<Tensor> {
    if sigma == 0.0 || sigma.is_nan() {
        return Err(Error::argument(format!(
            "gaussian: sigma must be non-zero (got {sigma}) for an array {}",
            describe(a)
        )));
    }
    let norm = 1.0 / ((2.0 * std::f32::consts::PI).sqrt() * sigma);
    let data = a
        .values()
        .iter()
        .map(|&x| {
            let z = (x - mu) / sigma;
            (-0.5 * z * z).exp() * norm
        })
        .collect();
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

struct Gaussian {
    mu: f32,
    sigma: f32,
}

impl Operation for Gaussian {
    fn name(&self) -> &str {
        "gaussian"
    }
    /// `d/da = -c (a - mu) / sigma^2`.
    fn jvp(&self, out: &Tensor, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Option<Tensor>> {
        let Some(t) = &t[0] else { return Ok(None) };
        let k = -1.0 / (self.sigma * self.sigma);
        let d = mul_scalar(&mul(out, &sub_scalar(&x[0], self.mu)?)?, k)?;
        Ok(Some(mul(t, &d)?))
    }
    fn vjp(&self, out: &Tensor, x: &[Tensor], g: &Grad, _: &[bool]) -> Result<Vec<Option<Grad>>> {
        let k = -1.0 / (self.sigma * self.sigma);
        let (xv, cv) = (x[0].values(), out.values());
        let data = g
            .as_slice()
            .iter()
            .zip(xv.iter().zip(cv.iter()))
            .map(|(&g, (&x, &c))| g * k * c * (x - self.mu))
            .collect();
        Ok(vec![Some(Grad::new(data, out.dims())), None])
    }
}
