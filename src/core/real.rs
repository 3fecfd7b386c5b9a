//! The element types of arrays: `f32` (diffstruc's `real32`, the default) and `f64` (`real64`).
//!
//! Every array, graph node, gradient and operation is generic over [`Real`]; a graph holds one
//! type throughout (an operation on arrays of two types is refused by the language layers, and
//! cannot be written in Rust). The trait carries what differs between the types: the maths
//! functions, the element-wise kernels (`f32` uses the vectorised kernels of
//! [`crate::ops::vmath`]; `f64` the C library's functions, one element at a time, with the same
//! derivative expressions), the buffer pool and the matrix product.

use std::cell::RefCell;
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use ndarray::{ArrayView2, ArrayViewMut2};

use super::dims::{self, Dims};
use super::error::Result;
use super::pool::Pool;
use super::tensor::{Tensor, DEFERRED32, DEFERRED64};
use crate::ops::vmath::{self, Bin, Deriv, Func};

/// The element type of an array, as the C ABI names it (`ds_dtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// 32-bit IEEE float (`float`, `real(real32)`)
    F32,
    /// 64-bit IEEE float (`double`, `real(real64)`)
    F64,
}

impl Dtype {
    /// `"real32"` or `"real64"`, as error messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "real32",
            Dtype::F64 => "real64",
        }
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// An array element type: `f32` or `f64` (sealed).
pub trait Real:
    sealed::Sealed
    + Copy
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + ndarray::LinalgScalar
{
    /// The type's tag.
    const DTYPE: Dtype;
    /// 0
    const ZERO: Self;
    /// 1
    const ONE: Self;
    /// ln 10
    const LN_10: Self;

    /// The nearest value of this type.
    fn from_f64(v: f64) -> Self;
    /// The value as f64 (exact).
    fn to_f64(self) -> f64;
    /// The value of an f32 (exact).
    fn from_f32(v: f32) -> Self;

    /// `|x|`
    fn abs(self) -> Self;
    /// square root
    fn sqrt(self) -> Self;
    /// `e^x`
    fn exp(self) -> Self;
    /// natural logarithm
    fn ln(self) -> Self;
    /// `x^y`
    fn powf(self, y: Self) -> Self;
    /// sine
    fn sin(self) -> Self;
    /// cosine
    fn cos(self) -> Self;
    /// tangent
    fn tan(self) -> Self;
    /// hyperbolic tangent
    fn tanh(self) -> Self;
    /// arc sine
    fn asin(self) -> Self;
    /// arc cosine
    fn acos(self) -> Self;
    /// arc tangent
    fn atan(self) -> Self;
    /// hyperbolic sine
    fn sinh(self) -> Self;
    /// hyperbolic cosine
    fn cosh(self) -> Self;
    /// NaN test
    fn is_nan(self) -> bool;
    /// `|self|` with the sign of `sign`
    fn copysign(self, sign: Self) -> Self;
    /// Bits of the value (for bit-exact comparisons and hashing).
    fn bits(self) -> u64;

    /// This thread's queue of nodes whose release was deferred (see `Drop for Node`).
    #[doc(hidden)]
    fn deferred_drops() -> &'static std::thread::LocalKey<RefCell<Vec<Tensor<Self>>>>;

    /// Runs `f` on this thread's buffer pool (`None` while the thread is being torn down).
    fn with_pool<R>(f: impl FnOnce(&RefCell<Pool<Self>>) -> R) -> Option<R>;

    /// `f(x)` element-wise into a new (pooled) buffer.
    fn eval_vec(f: Func, x: &[Self]) -> Vec<Self> {
        let it = x.iter().map(|&x| scalar_value(f, x));
        super::pool::collect(x.len(), it)
    }

    /// `g * f'(.)` (see [`Deriv`]) element-wise into a new (pooled) buffer.
    fn deriv_vec(d: Deriv, g: &[Self], v: &[Self]) -> Vec<Self> {
        let n = g.len().min(v.len());
        let it = g.iter().zip(v).map(|(&g, &v)| scalar_deriv(d, g, v));
        super::pool::collect(n, it)
    }

    /// The normal density element-wise into a new (pooled) buffer.
    fn gaussian_vec(x: &[Self], mu: Self, sigma: Self) -> Vec<Self> {
        let norm = Self::ONE / (Self::from_f64((2.0 * std::f64::consts::PI).sqrt()) * sigma);
        let half = Self::from_f64(0.5);
        let it = x.iter().map(|&x| {
            let z = (x - mu) / sigma;
            (-(z * z) * half).exp() * norm
        });
        super::pool::collect(x.len(), it)
    }

    /// The gaussian's reverse kernel `g * ((c * (x - mu)) * k)`, `k = -1 / (sigma * sigma)`.
    fn gaussian_deriv_vec(g: &[Self], x: &[Self], c: &[Self], mu: Self, sigma: Self) -> Vec<Self> {
        let k = -Self::ONE / (sigma * sigma);
        let n = g.len().min(x.len()).min(c.len());
        let it = (0..n).map(|i| g[i] * ((c[i] * (x[i] - mu)) * k));
        super::pool::collect(n, it)
    }

    /// `a op b` with broadcasting into a new (pooled) buffer of extents `out`.
    fn binary_vec(op: Bin, a: &[Self], da: Dims, b: &[Self], db: Dims, out: Dims) -> Vec<Self> {
        dims::zip_with(a, da, b, db, out, |x, y| op.scalar(x, y))
    }

    /// Both gradients of `x * y`: `(g * y, g * x)`.
    fn mul_grads_vec(g: &[Self], x: &[Self], y: &[Self]) -> (Vec<Self>, Vec<Self>) {
        let n = g.len();
        let gx = super::pool::collect(n, g.iter().zip(y).map(|(&g, &y)| g * y));
        let gy = super::pool::collect(n, g.iter().zip(x).map(|(&g, &x)| g * x));
        (gx, gy)
    }

    /// The divisor's gradient of `q = x / y`: `-(g * q) / y`.
    fn div_grad_vec(g: &[Self], q: &[Self], y: &[Self]) -> Vec<Self> {
        let n = g.len().min(q.len()).min(y.len());
        super::pool::collect(n, (0..n).map(|i| -(g[i] * q[i]) / y[i]))
    }

    /// `acc += x` element-wise.
    fn accumulate(acc: &mut [Self], x: &[Self]) {
        acc.iter_mut().zip(x).for_each(|(a, &x)| *a += x);
    }

    /// `c = a · b + beta c` (`f32`: [`crate::ops::gemm::sgemm`]; `f64`: ndarray's
    /// `general_mat_mul`). Errors: extents that do not match.
    fn gemm(
        a: &ArrayView2<'_, Self>,
        b: &ArrayView2<'_, Self>,
        beta: Self,
        c: &mut ArrayViewMut2<'_, Self>,
    ) -> Result<()> {
        crate::ops::gemm::check_extents(a, b, c)?;
        ndarray::linalg::general_mat_mul(Self::ONE, a, b, beta, c);
        Ok(())
    }
}

/// The value kernels, one element (the `f64` definition; `f32` uses [`vmath`]).
fn scalar_value<T: Real>(f: Func, x: T) -> T {
    match f {
        Func::Exp => x.exp(),
        Func::Ln => x.ln(),
        Func::Log10 => x.ln() / T::LN_10,
        Func::Sqrt => x.sqrt(),
        Func::Tanh => x.tanh(),
        Func::Sigmoid => {
            // no cancellation for large negative x
            if x >= T::ZERO {
                T::ONE / (T::ONE + (-x).exp())
            } else {
                let e = x.exp();
                e / (T::ONE + e)
            }
        }
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
    }
}

/// The derivative kernels, one element: the forward rules' expressions (see [`Deriv`]).
fn scalar_deriv<T: Real>(d: Deriv, g: T, v: T) -> T {
    let one = T::ONE;
    match d {
        Deriv::Exp => g * v,
        Deriv::Ln => g / v,
        Deriv::Log10 => g / (v * T::LN_10),
        Deriv::Sqrt => (g * T::from_f64(0.5)) / v,
        Deriv::Sigmoid => g * (v * (one - v)),
        Deriv::Sin => g * v.cos(),
        Deriv::Cos => -g * v.sin(),
        Deriv::Tan => g * (v * v + one),
        Deriv::Tanh => g * (one - v * v),
        Deriv::Square => g * (v * T::from_f64(2.0)),
    }
}

thread_local! {
    static POOL32: RefCell<Pool<f32>> = RefCell::new(Pool::default());
    static POOL64: RefCell<Pool<f64>> = RefCell::new(Pool::default());
}

macro_rules! maths {
    ($($f:ident),*) => { $( #[inline] fn $f(self) -> Self { Self::$f(self) } )* };
}

impl Real for f32 {
    const DTYPE: Dtype = Dtype::F32;
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const LN_10: f32 = std::f32::consts::LN_10;
    #[inline]
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn from_f32(v: f32) -> f32 {
        v
    }
    maths!(abs, sqrt, exp, ln, sin, cos, tan, tanh, asin, acos, atan, sinh, cosh);
    #[inline]
    fn powf(self, y: f32) -> f32 {
        f32::powf(self, y)
    }
    #[inline]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline]
    fn copysign(self, sign: f32) -> f32 {
        f32::copysign(self, sign)
    }
    #[inline]
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn deferred_drops() -> &'static std::thread::LocalKey<RefCell<Vec<Tensor<f32>>>> {
        &DEFERRED32
    }
    fn with_pool<R>(f: impl FnOnce(&RefCell<Pool<f32>>) -> R) -> Option<R> {
        POOL32.try_with(f).ok()
    }
    fn eval_vec(f: Func, x: &[f32]) -> Vec<f32> {
        vmath::eval_vec(f, x)
    }
    fn deriv_vec(d: Deriv, g: &[f32], v: &[f32]) -> Vec<f32> {
        vmath::deriv_vec(d, g, v)
    }
    fn gaussian_vec(x: &[f32], mu: f32, sigma: f32) -> Vec<f32> {
        vmath::gaussian_vec(x, mu, sigma)
    }
    fn gaussian_deriv_vec(g: &[f32], x: &[f32], c: &[f32], mu: f32, sigma: f32) -> Vec<f32> {
        vmath::gaussian_deriv_vec(g, x, c, mu, sigma)
    }
    fn binary_vec(op: Bin, a: &[f32], da: Dims, b: &[f32], db: Dims, out: Dims) -> Vec<f32> {
        vmath::binary_vec(op, a, da, b, db, out)
    }
    fn mul_grads_vec(g: &[f32], x: &[f32], y: &[f32]) -> (Vec<f32>, Vec<f32>) {
        vmath::mul_grads_vec(g, x, y)
    }
    fn div_grad_vec(g: &[f32], q: &[f32], y: &[f32]) -> Vec<f32> {
        vmath::div_grad_vec(g, q, y)
    }
    fn accumulate(acc: &mut [f32], x: &[f32]) {
        vmath::add_assign(acc, x)
    }
    fn gemm(
        a: &ArrayView2<'_, f32>,
        b: &ArrayView2<'_, f32>,
        beta: f32,
        c: &mut ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        crate::ops::gemm::sgemm(a, b, beta, c)
    }
}

impl Real for f64 {
    const DTYPE: Dtype = Dtype::F64;
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    const LN_10: f64 = std::f64::consts::LN_10;
    #[inline]
    fn from_f64(v: f64) -> f64 {
        v
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f32(v: f32) -> f64 {
        f64::from(v)
    }
    maths!(abs, sqrt, exp, ln, sin, cos, tan, tanh, asin, acos, atan, sinh, cosh);
    #[inline]
    fn powf(self, y: f64) -> f64 {
        f64::powf(self, y)
    }
    #[inline]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    #[inline]
    fn copysign(self, sign: f64) -> f64 {
        f64::copysign(self, sign)
    }
    #[inline]
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn deferred_drops() -> &'static std::thread::LocalKey<RefCell<Vec<Tensor<f64>>>> {
        &DEFERRED64
    }
    fn with_pool<R>(f: impl FnOnce(&RefCell<Pool<f64>>) -> R) -> Option<R> {
        POOL64.try_with(f).ok()
    }
}
