//! Slice drivers and the per-path entry points.
//!
//! A slice is processed in whole vectors, then one partial vector (masked loads and stores with
//! AVX-512, a copy through a small buffer with AVX2) computed by the same code, so the result
//! for an element never depends on its position or on how a slice is split.

use super::exp::{exp, gaussian, sigmoid, tanh, Gauss};
use super::log::{ln, log10};
use super::simd::{neg, Vf, Vm, F4};
use super::trig::{cos, sin, tan};
use super::{Bin, Deriv, Form, Func};

/// What to compute.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kernel {
    /// `out = f(a)`
    Value(Func),
    /// `out = a * f'(.)` from `(a, b) = (g, x or c)`
    Deriv(Deriv),
    /// `out = gaussian(a)`
    Gauss(Gauss),
    /// `out = a * ((c * (x - mu)) * k)` from `(a, b, c) = (g, x, c)`
    GaussDeriv { mu: f32, k: f32 },
    /// `out = a op b`, an operand possibly one value for every element
    Binary(Bin, Form),
    /// `out = a * b` and `out2 = a * c` in one pass: both gradients of a product, from
    /// `(a, b, c) = (g, y, x)`
    MulGrads,
    /// `out = -(a * b) / c`: the divisor's gradient of a quotient, from `(a, b, c) = (g, q, y)`
    DivGrad,
}

/// Raw operands: `n` values each; `b` and `c` are read only by kernels that take them.
#[derive(Clone, Copy)]
pub(crate) struct Args {
    pub(crate) a: *const f32,
    pub(crate) b: *const f32,
    pub(crate) c: *const f32,
    pub(crate) out: *mut f32,
    /// second output, written only by kernels with two results
    pub(crate) out2: *mut f32,
    pub(crate) n: usize,
}

/// An element-wise function of one vector. Kernels are types rather than closures so that
/// `#[inline(always)]` reaches through every level into the `#[target_feature]` entry points
/// (a closure body is a separate function without the entry point's CPU features).
trait Op1 {
    fn apply<V: Vf>(&self, x: V) -> V;
}
/// An element-wise function of two vectors.
trait Op2 {
    fn apply<V: Vf>(&self, a: V, b: V) -> V;
}
/// An element-wise function of three vectors.
trait Op3 {
    fn apply<V: Vf>(&self, a: V, b: V, c: V) -> V;
}

macro_rules! op1 {
    ($name:ident, $f:path) => {
        struct $name;
        impl Op1 for $name {
            #[inline(always)]
            fn apply<V: Vf>(&self, x: V) -> V {
                $f(x)
            }
        }
    };
}
op1!(ExpOp, exp);
op1!(LnOp, ln);
op1!(Log10Op, log10);
op1!(SqrtOp, Vf::sqrt);
op1!(TanhOp, tanh);
op1!(SigmoidOp, sigmoid);
op1!(SinOp, sin);
op1!(CosOp, cos);
op1!(TanOp, tan);

impl Op1 for Gauss {
    #[inline(always)]
    fn apply<V: Vf>(&self, x: V) -> V {
        gaussian(x, self)
    }
}

impl Op2 for Deriv {
    #[inline(always)]
    fn apply<V: Vf>(&self, g: V, v: V) -> V {
        let one = V::splat(1.0);
        match self {
            Deriv::Exp => g * v,
            Deriv::Ln => g / v,
            Deriv::Log10 => g / (v * V::splat(std::f32::consts::LN_10)),
            Deriv::Sqrt => (g * V::splat(0.5)) / v,
            Deriv::Sigmoid => g * (v * (one - v)),
            Deriv::Sin => g * cos(v),
            Deriv::Cos => neg(g) * sin(v),
            Deriv::Tan => g * (v * v + one),
            Deriv::Tanh => g * (one - v * v),
            Deriv::Square => g * (v * V::splat(2.0)),
        }
    }
}

impl Op2 for Bin {
    #[inline(always)]
    fn apply<V: Vf>(&self, a: V, b: V) -> V {
        match self {
            Bin::Add => a + b,
            Bin::Sub => a - b,
            Bin::Mul => a * b,
            Bin::Div => a / b,
            // NaN in `a` propagates; `Vf::max` already returns `b` when `b` is NaN
            Bin::Max => V::select(a.eq(a).not(), a, a.max(b)),
        }
    }
}

/// `-(g * q) / y`.
struct DivGradOp;
impl Op3 for DivGradOp {
    #[inline(always)]
    fn apply<V: Vf>(&self, g: V, q: V, y: V) -> V {
        neg(g * q) / y
    }
}

/// `g * ((c * (x - mu)) * k)`.
struct GaussDerivOp {
    mu: f32,
    k: f32,
}
impl Op3 for GaussDerivOp {
    #[inline(always)]
    fn apply<V: Vf>(&self, g: V, x: V, c: V) -> V {
        g * ((c * (x - V::splat(self.mu))) * V::splat(self.k))
    }
}

#[inline(always)]
unsafe fn map1<V: Vf>(p: Args, op: &impl Op1) {
    let mut i = 0;
    // SAFETY (whole function): the caller guarantees `n` readable values at `a` and `n`
    // writable values at `out`; every access below is at an offset < n.
    unsafe {
        while i + V::LANES <= p.n {
            op.apply(V::load(p.a.add(i))).store(p.out.add(i));
            i += V::LANES;
        }
        if i < p.n {
            let m = p.n - i;
            op.apply(V::load_partial(p.a.add(i), m))
                .store_partial(p.out.add(i), m);
        }
    }
}

#[inline(always)]
unsafe fn map2<V: Vf>(p: Args, op: &impl Op2) {
    let mut i = 0;
    // SAFETY (whole function): as in `map1`, with `n` readable values at `b` too.
    unsafe {
        while i + V::LANES <= p.n {
            op.apply(V::load(p.a.add(i)), V::load(p.b.add(i)))
                .store(p.out.add(i));
            i += V::LANES;
        }
        if i < p.n {
            let m = p.n - i;
            let (a, b) = (
                V::load_partial(p.a.add(i), m),
                V::load_partial(p.b.add(i), m),
            );
            op.apply(a, b).store_partial(p.out.add(i), m);
        }
    }
}

#[inline(always)]
unsafe fn map3<V: Vf>(p: Args, op: &impl Op3) {
    let mut i = 0;
    // SAFETY (whole function): as in `map2`, with `n` readable values at `c` too.
    unsafe {
        while i + V::LANES <= p.n {
            let (a, b, c) = (
                V::load(p.a.add(i)),
                V::load(p.b.add(i)),
                V::load(p.c.add(i)),
            );
            op.apply(a, b, c).store(p.out.add(i));
            i += V::LANES;
        }
        if i < p.n {
            let m = p.n - i;
            let (a, b, c) = (
                V::load_partial(p.a.add(i), m),
                V::load_partial(p.b.add(i), m),
                V::load_partial(p.c.add(i), m),
            );
            op.apply(a, b, c).store_partial(p.out.add(i), m);
        }
    }
}

/// `LANES` values from `q + i` (`m` of them, the rest 0), or `*q` in every lane if `one`.
///
/// # Safety
/// `q` valid for reading one value if `one`, else `i + m` values.
#[inline(always)]
unsafe fn load_or_splat<V: Vf>(q: *const f32, one: bool, i: usize, m: usize) -> V {
    // SAFETY: forwarded from the caller.
    unsafe {
        if one {
            V::splat(*q)
        } else if m == V::LANES {
            V::load(q.add(i))
        } else {
            V::load_partial(q.add(i), m)
        }
    }
}

/// `op(a, b)` where `a` (`A_ONE`) or `b` (`B_ONE`) may be a single value for every element.
#[inline(always)]
unsafe fn map2_bcast<V: Vf, const A_ONE: bool, const B_ONE: bool>(p: Args, op: &impl Op2) {
    // SAFETY (whole function): as in `map2`, except that an operand marked single has one
    // readable value.
    unsafe {
        let mut i = 0;
        while i + V::LANES <= p.n {
            let a = load_or_splat::<V>(p.a, A_ONE, i, V::LANES);
            let b = load_or_splat::<V>(p.b, B_ONE, i, V::LANES);
            op.apply(a, b).store(p.out.add(i));
            i += V::LANES;
        }
        if i < p.n {
            let m = p.n - i;
            let a = load_or_splat::<V>(p.a, A_ONE, i, m);
            let b = load_or_splat::<V>(p.b, B_ONE, i, m);
            op.apply(a, b).store_partial(p.out.add(i), m);
        }
    }
}

#[inline(always)]
unsafe fn binary<V: Vf>(p: Args, op: Bin, form: Form) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match form {
            Form::Both => map2::<V>(p, &op),
            Form::OneA => map2_bcast::<V, true, false>(p, &op),
            Form::OneB => map2_bcast::<V, false, true>(p, &op),
            Form::Ones => map2_bcast::<V, true, true>(p, &op),
        }
    }
}

/// Both gradients of a product in one pass.
#[inline(always)]
unsafe fn mul_grads<V: Vf>(p: Args) {
    let mut i = 0;
    // SAFETY (whole function): as in `map3`, with `n` writable values at `out2` too.
    unsafe {
        while i + V::LANES <= p.n {
            let g = V::load(p.a.add(i));
            (g * V::load(p.b.add(i))).store(p.out.add(i));
            (g * V::load(p.c.add(i))).store(p.out2.add(i));
            i += V::LANES;
        }
        if i < p.n {
            let m = p.n - i;
            let g = V::load_partial(p.a.add(i), m);
            (g * V::load_partial(p.b.add(i), m)).store_partial(p.out.add(i), m);
            (g * V::load_partial(p.c.add(i), m)).store_partial(p.out2.add(i), m);
        }
    }
}

/// Runs a kernel with vector type `V`.
///
/// # Safety
/// The pointers of `p` must be valid as [`Args`] describes for the kernel, and the CPU must
/// support `V`'s instructions.
#[inline(always)]
unsafe fn run_generic<V: Vf>(k: Kernel, p: Args) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match k {
            Kernel::Value(f) => match f {
                Func::Exp => map1::<V>(p, &ExpOp),
                Func::Ln => map1::<V>(p, &LnOp),
                Func::Log10 => map1::<V>(p, &Log10Op),
                Func::Sqrt => map1::<V>(p, &SqrtOp),
                Func::Tanh => map1::<V>(p, &TanhOp),
                Func::Sigmoid => map1::<V>(p, &SigmoidOp),
                Func::Sin => map1::<V>(p, &SinOp),
                Func::Cos => map1::<V>(p, &CosOp),
                Func::Tan => map1::<V>(p, &TanOp),
            },
            // one loop per rule, so the match is outside the loop
            Kernel::Deriv(d) => match d {
                Deriv::Exp => map2::<V>(p, &Deriv::Exp),
                Deriv::Ln => map2::<V>(p, &Deriv::Ln),
                Deriv::Log10 => map2::<V>(p, &Deriv::Log10),
                Deriv::Sqrt => map2::<V>(p, &Deriv::Sqrt),
                Deriv::Sigmoid => map2::<V>(p, &Deriv::Sigmoid),
                Deriv::Sin => map2::<V>(p, &Deriv::Sin),
                Deriv::Cos => map2::<V>(p, &Deriv::Cos),
                Deriv::Tan => map2::<V>(p, &Deriv::Tan),
                Deriv::Tanh => map2::<V>(p, &Deriv::Tanh),
                Deriv::Square => map2::<V>(p, &Deriv::Square),
            },
            Kernel::Gauss(params) => map1::<V>(p, &params),
            Kernel::GaussDeriv { mu, k } => map3::<V>(p, &GaussDerivOp { mu, k }),
            // one loop per operation, so the match is outside the loop
            Kernel::Binary(op, form) => match op {
                Bin::Add => binary::<V>(p, Bin::Add, form),
                Bin::Sub => binary::<V>(p, Bin::Sub, form),
                Bin::Mul => binary::<V>(p, Bin::Mul, form),
                Bin::Div => binary::<V>(p, Bin::Div, form),
                Bin::Max => binary::<V>(p, Bin::Max, form),
            },
            Kernel::MulGrads => mul_grads::<V>(p),
            Kernel::DivGrad => map3::<V>(p, &DivGradOp),
        }
    }
}

/// The portable path.
///
/// # Safety
/// As [`run_generic`].
pub(crate) unsafe fn run_scalar(k: Kernel, p: Args) {
    // SAFETY: forwarded from the caller.
    unsafe { run_generic::<F4>(k, p) }
}

/// The AVX2 + FMA path.
///
/// # Safety
/// As [`run_generic`]; the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn run_avx2(k: Kernel, p: Args) {
    // SAFETY: forwarded from the caller.
    unsafe { run_generic::<super::x86::F8>(k, p) }
}

/// The AVX-512F path.
///
/// # Safety
/// As [`run_generic`]; the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn run_avx512(k: Kernel, p: Args) {
    // SAFETY: forwarded from the caller.
    unsafe { run_generic::<super::x86::F16>(k, p) }
}
