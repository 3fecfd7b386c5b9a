//! Slice drivers and the per-path entry points.
//!
//! A slice is processed in whole vectors, then one partial vector (masked loads and stores with
//! AVX-512, a copy through a small buffer with AVX2) computed by the same code, so the result
//! for an element never depends on its position or on how a slice is split.

use super::exp::{exp, gaussian, sigmoid, tanh, Gauss};
use super::log::{ln, log10};
use super::simd::{neg, Vf, F1};
use super::trig::{cos, sin, tan};
use super::{Deriv, Func};

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
}

/// Raw operands: `n` values each; `b` and `c` are read only by kernels that take them.
#[derive(Clone, Copy)]
pub(crate) struct Args {
    pub(crate) a: *const f32,
    pub(crate) b: *const f32,
    pub(crate) c: *const f32,
    pub(crate) out: *mut f32,
    pub(crate) n: usize,
}

#[inline(always)]
unsafe fn map1<V: Vf>(p: Args, f: impl Fn(V) -> V) {
    let mut i = 0;
    // SAFETY (whole function): the caller guarantees `n` readable values at `a` and `n`
    // writable values at `out`; every access below is at an offset < n.
    unsafe {
        while i + V::LANES <= p.n {
            f(V::load(p.a.add(i))).store(p.out.add(i));
            i += V::LANES;
        }
        if i < p.n {
            let m = p.n - i;
            f(V::load_partial(p.a.add(i), m)).store_partial(p.out.add(i), m);
        }
    }
}

#[inline(always)]
unsafe fn map2<V: Vf>(p: Args, f: impl Fn(V, V) -> V) {
    let mut i = 0;
    // SAFETY (whole function): as in `map1`, with `n` readable values at `b` too.
    unsafe {
        while i + V::LANES <= p.n {
            f(V::load(p.a.add(i)), V::load(p.b.add(i))).store(p.out.add(i));
            i += V::LANES;
        }
        if i < p.n {
            let m = p.n - i;
            let (a, b) = (
                V::load_partial(p.a.add(i), m),
                V::load_partial(p.b.add(i), m),
            );
            f(a, b).store_partial(p.out.add(i), m);
        }
    }
}

#[inline(always)]
unsafe fn map3<V: Vf>(p: Args, f: impl Fn(V, V, V) -> V) {
    let mut i = 0;
    // SAFETY (whole function): as in `map2`, with `n` readable values at `c` too.
    unsafe {
        while i + V::LANES <= p.n {
            let (a, b, c) = (
                V::load(p.a.add(i)),
                V::load(p.b.add(i)),
                V::load(p.c.add(i)),
            );
            f(a, b, c).store(p.out.add(i));
            i += V::LANES;
        }
        if i < p.n {
            let m = p.n - i;
            let (a, b, c) = (
                V::load_partial(p.a.add(i), m),
                V::load_partial(p.b.add(i), m),
                V::load_partial(p.c.add(i), m),
            );
            f(a, b, c).store_partial(p.out.add(i), m);
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
    let ln10 = V::splat(std::f32::consts::LN_10);
    let one = V::splat(1.0);
    let half = V::splat(0.5);
    // SAFETY: forwarded from the caller.
    unsafe {
        match k {
            Kernel::Value(f) => match f {
                Func::Exp => map1::<V>(p, exp),
                Func::Ln => map1::<V>(p, ln),
                Func::Log10 => map1::<V>(p, log10),
                Func::Sqrt => map1::<V>(p, V::sqrt),
                Func::Tanh => map1::<V>(p, tanh),
                Func::Sigmoid => map1::<V>(p, sigmoid),
                Func::Sin => map1::<V>(p, sin),
                Func::Cos => map1::<V>(p, cos),
                Func::Tan => map1::<V>(p, tan),
            },
            Kernel::Deriv(d) => match d {
                Deriv::Exp => map2::<V>(p, |g, c| g * c),
                Deriv::Ln => map2::<V>(p, |g, x| g / x),
                Deriv::Log10 => map2::<V>(p, |g, x| g / (x * ln10)),
                Deriv::Sqrt => map2::<V>(p, |g, c| (g * half) / c),
                Deriv::Sigmoid => map2::<V>(p, |g, c| g * (c * (one - c))),
                Deriv::Sin => map2::<V>(p, |g, x| g * cos(x)),
                Deriv::Cos => map2::<V>(p, |g, x| neg(g) * sin(x)),
                Deriv::Tan => map2::<V>(p, |g, c| g * (c * c + one)),
                Deriv::Tanh => map2::<V>(p, |g, c| g * (one - c * c)),
            },
            Kernel::Gauss(params) => map1::<V>(p, |x| gaussian(x, &params)),
            Kernel::GaussDeriv { mu, k } => {
                let (mu, k) = (V::splat(mu), V::splat(k));
                map3::<V>(p, |g, x, c| g * ((c * (x - mu)) * k))
            }
        }
    }
}

/// The portable path.
///
/// # Safety
/// As [`run_generic`].
pub(crate) unsafe fn run_scalar(k: Kernel, p: Args) {
    // SAFETY: forwarded from the caller.
    unsafe { run_generic::<F1>(k, p) }
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
