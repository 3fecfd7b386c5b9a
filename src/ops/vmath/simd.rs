//! The vector abstraction the kernels are written against, and its portable implementation.
//!
//! Every kernel is one generic function over [`Vf`]; the AVX2 and AVX-512 types (in
//! [`super::x86`]) and the portable type [`F4`] implement it with the same IEEE operations
//! (`mul_add` is a fused multiply-add everywhere), so every path computes bit-identical results.
//! Comparisons, `min` and `max` follow the x86 rules exactly (`min(a, b)` is `if a < b { a }
//! else { b }`, so a NaN in `a` yields `b`), and integer arithmetic wraps.

use std::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Sub};

/// A vector of `f32` lanes.
pub(crate) trait Vf:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    /// The matching vector of `i32` lanes.
    type I: Vi<M = Self::M>;
    /// A lane mask.
    type M: Vm;
    /// Number of lanes.
    const LANES: usize;

    /// All lanes `v`.
    fn splat(v: f32) -> Self;
    /// `self * b + c` with one rounding.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// Correctly rounded square root.
    fn sqrt(self) -> Self;
    /// `if self < o { self } else { o }` per lane.
    fn min(self, o: Self) -> Self;
    /// `if self > o { self } else { o }` per lane.
    fn max(self, o: Self) -> Self;
    /// `self < o` (false for NaN).
    fn lt(self, o: Self) -> Self::M;
    /// `self <= o` (false for NaN).
    fn le(self, o: Self) -> Self::M;
    /// `self == o` (false for NaN).
    fn eq(self, o: Self) -> Self::M;
    /// `if m { a } else { b }` per lane.
    fn select(m: Self::M, a: Self, b: Self) -> Self;
    /// The lanes' bit patterns.
    fn to_bits(self) -> Self::I;
    /// Lanes from bit patterns.
    fn from_bits(i: Self::I) -> Self;
    /// `f(src)` in the lanes of `m`, `self` elsewhere (a slow path for rare lanes).
    fn map_lanes(self, m: Self::M, src: Self, f: impl Fn(f32) -> f32) -> Self;

    /// Loads `LANES` values.
    ///
    /// # Safety
    /// `p` must be valid for reading `LANES` values.
    unsafe fn load(p: *const f32) -> Self;
    /// Stores `LANES` values.
    ///
    /// # Safety
    /// `p` must be valid for writing `LANES` values.
    unsafe fn store(self, p: *mut f32);
    /// Loads `n < LANES` values, the other lanes 0.
    ///
    /// # Safety
    /// `p` must be valid for reading `n` values.
    unsafe fn load_partial(p: *const f32, n: usize) -> Self;
    /// Stores the first `n < LANES` lanes.
    ///
    /// # Safety
    /// `p` must be valid for writing `n` values.
    unsafe fn store_partial(self, p: *mut f32, n: usize);
}

/// A vector of `i32` lanes (wrapping arithmetic).
pub(crate) trait Vi:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + BitXor<Output = Self>
{
    /// The lane mask type.
    type M: Vm;
    /// All lanes `v`.
    fn splat(v: i32) -> Self;
    /// Shift left by `n` (< 32).
    fn shl(self, n: u32) -> Self;
    /// Arithmetic shift right by `n` (< 32).
    fn sra(self, n: u32) -> Self;
    /// `self == o`.
    fn eq(self, o: Self) -> Self::M;
}

/// A lane mask.
pub(crate) trait Vm: Copy {
    /// Both.
    fn and(self, o: Self) -> Self;
    /// Not.
    fn not(self) -> Self;
    /// True if any lane is set.
    fn any(self) -> bool;
}

// ---- helpers shared by the kernels --------------------------------------------------------------

/// `c - a * b` with one rounding.
#[inline(always)]
pub(crate) fn nmul_add<V: Vf>(a: V, b: V, c: V) -> V {
    neg(a).mul_add(b, c)
}

/// `-x` (flips the sign bit, exact).
#[inline(always)]
pub(crate) fn neg<V: Vf>(x: V) -> V {
    V::from_bits(x.to_bits() ^ V::I::splat(i32::MIN))
}

/// `|x|`.
#[inline(always)]
pub(crate) fn abs<V: Vf>(x: V) -> V {
    V::from_bits(x.to_bits() & V::I::splat(i32::MAX))
}

/// The sign bit of `x` (as bits).
#[inline(always)]
pub(crate) fn sign_bit<V: Vf>(x: V) -> V::I {
    x.to_bits() & V::I::splat(i32::MIN)
}

/// `x` with its sign bit flipped where `s` has it set.
#[inline(always)]
pub(crate) fn xor_sign<V: Vf>(x: V, s: V::I) -> V {
    V::from_bits(x.to_bits() ^ s)
}

/// `2^n` for integer lanes `-126 <= n <= 127`.
#[inline(always)]
pub(crate) fn pow2i<V: Vf>(n: V::I) -> V {
    V::from_bits((n + V::I::splat(127)).shl(23))
}

/// Horner evaluation of `c[0] + c[1] z + ... ` with fused multiply-adds.
#[inline(always)]
pub(crate) fn horner<V: Vf>(z: V, c: &[f32]) -> V {
    let mut acc = V::splat(c[c.len() - 1]);
    for &k in c[..c.len() - 1].iter().rev() {
        acc = acc.mul_add(z, V::splat(k));
    }
    acc
}

/// Error-free sum: `(s, e)` with `s = fl(a + b)` and `s + e = a + b` exactly.
#[inline(always)]
pub(crate) fn two_sum<V: Vf>(a: V, b: V) -> (V, V) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// Error-free sum when `|a| >= |b|` (or `a` is 0 or `b` is 0).
#[inline(always)]
pub(crate) fn fast_two_sum<V: Vf>(a: V, b: V) -> (V, V) {
    let s = a + b;
    (s, b - (s - a))
}

/// `a * b + c` rounded once. x86-64 without the `fma` target feature would call the C
/// library's `fmaf`, which is emulated in software (tens of nanoseconds) on exactly the CPUs
/// that use this path (no AVX2/FMA); so there it is computed in f64 instead: the product is
/// exact, and the f64 sum rounds to the right f32 unless it lands exactly on a midpoint
/// between two f32 (or in the f32 subnormal range); only then is the sum rounded to odd (its
/// exact error decides the last bit), which makes the final rounding correct. Bit for bit the
/// hardware's result.
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(all(target_arch = "x86_64", not(target_feature = "fma"))) {
        let p = f64::from(a) * f64::from(b); // exact: 48 significant bits, no overflow
        let c = f64::from(c);
        let s = p + c;
        let bits = s.to_bits();
        let midpoint = bits & 0x1fff_ffff == 0x1000_0000;
        if midpoint || s.abs() < f64::from(f32::MIN_POSITIVE) {
            fma_round_to_odd(p, c, s)
        } else {
            s as f32
        }
    } else {
        a.mul_add(b, c)
    }
}

/// The slow path of [`fma`]: `s = fl(p + c)` rounded to odd instead, then to f32.
#[cold]
#[inline(never)]
fn fma_round_to_odd(p: f64, c: f64, s: f64) -> f32 {
    let bb = s - p;
    let e = (p - (s - bb)) + (c - bb); // s + e = p + c exactly (s finite)
    let bits = s.to_bits();
    if s.is_finite() && e != 0.0 && bits & 1 == 0 {
        // the neighbour of s towards the exact sum, which has an odd last bit
        let up = (e > 0.0) == (s > 0.0);
        f64::from_bits(if up { bits + 1 } else { bits - 1 }) as f32
    } else {
        s as f32
    }
}

// ---- the portable type ----------------------------------------------------------------------------

/// Four `f32` lanes in plain Rust: the portable path, also used on targets other than x86-64.
/// Four independent lanes let the processor overlap four elements' long dependency chains
/// (and let the compiler use whatever vector instructions the target has).
#[derive(Clone, Copy, Debug)]
pub(crate) struct F4(pub(crate) [f32; 4]);

/// Four `i32` lanes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct I4([i32; 4]);

/// Four lane flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct M4([bool; 4]);

/// `[f(a[0], b[0]), ..., f(a[3], b[3])]`.
#[inline(always)]
fn zip4<T: Copy, U>(a: [T; 4], b: [T; 4], f: impl Fn(T, T) -> U) -> [U; 4] {
    [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])]
}

/// `[f(a[0]), ..., f(a[3])]`.
#[inline(always)]
fn map4<T: Copy, U>(a: [T; 4], f: impl Fn(T) -> U) -> [U; 4] {
    [f(a[0]), f(a[1]), f(a[2]), f(a[3])]
}

macro_rules! portable_binop {
    ($t:ident, $tr:ident, $f:ident, |$a:ident, $b:ident| $e:expr) => {
        impl $tr for $t {
            type Output = $t;
            #[inline(always)]
            fn $f(self, o: $t) -> $t {
                $t(zip4(self.0, o.0, |$a, $b| $e))
            }
        }
    };
}
portable_binop!(F4, Add, add, |a, b| a + b);
portable_binop!(F4, Sub, sub, |a, b| a - b);
portable_binop!(F4, Mul, mul, |a, b| a * b);
portable_binop!(F4, Div, div, |a, b| a / b);
portable_binop!(I4, Add, add, |a, b| a.wrapping_add(b));
portable_binop!(I4, Sub, sub, |a, b| a.wrapping_sub(b));
portable_binop!(I4, BitAnd, bitand, |a, b| a & b);
portable_binop!(I4, BitOr, bitor, |a, b| a | b);
portable_binop!(I4, BitXor, bitxor, |a, b| a ^ b);

impl Vm for M4 {
    #[inline(always)]
    fn and(self, o: M4) -> M4 {
        M4(zip4(self.0, o.0, |a, b| a & b))
    }
    #[inline(always)]
    fn not(self) -> M4 {
        M4(map4(self.0, |a| !a))
    }
    #[inline(always)]
    fn any(self) -> bool {
        self.0[0] | self.0[1] | self.0[2] | self.0[3]
    }
}

impl Vi for I4 {
    type M = M4;
    #[inline(always)]
    fn splat(v: i32) -> I4 {
        I4([v; 4])
    }
    #[inline(always)]
    fn shl(self, n: u32) -> I4 {
        I4(map4(self.0, |a| a.wrapping_shl(n)))
    }
    #[inline(always)]
    fn sra(self, n: u32) -> I4 {
        I4(map4(self.0, |a| a >> n))
    }
    #[inline(always)]
    fn eq(self, o: I4) -> M4 {
        M4(zip4(self.0, o.0, |a, b| a == b))
    }
}

impl Vf for F4 {
    type I = I4;
    type M = M4;
    const LANES: usize = 4;

    #[inline(always)]
    fn splat(v: f32) -> F4 {
        F4([v; 4])
    }
    #[inline(always)]
    fn mul_add(self, b: F4, c: F4) -> F4 {
        let (a, b, c) = (self.0, b.0, c.0);
        F4([
            fma(a[0], b[0], c[0]),
            fma(a[1], b[1], c[1]),
            fma(a[2], b[2], c[2]),
            fma(a[3], b[3], c[3]),
        ])
    }
    #[inline(always)]
    fn sqrt(self) -> F4 {
        F4(map4(self.0, f32::sqrt))
    }
    #[inline(always)]
    fn min(self, o: F4) -> F4 {
        F4(zip4(self.0, o.0, |a, b| if a < b { a } else { b }))
    }
    #[inline(always)]
    fn max(self, o: F4) -> F4 {
        F4(zip4(self.0, o.0, |a, b| if a > b { a } else { b }))
    }
    #[inline(always)]
    fn lt(self, o: F4) -> M4 {
        M4(zip4(self.0, o.0, |a, b| a < b))
    }
    #[inline(always)]
    fn le(self, o: F4) -> M4 {
        M4(zip4(self.0, o.0, |a, b| a <= b))
    }
    #[inline(always)]
    fn eq(self, o: F4) -> M4 {
        M4(zip4(self.0, o.0, |a, b| a == b))
    }
    #[inline(always)]
    fn select(m: M4, a: F4, b: F4) -> F4 {
        let (m, a, b) = (m.0, a.0, b.0);
        F4([
            if m[0] { a[0] } else { b[0] },
            if m[1] { a[1] } else { b[1] },
            if m[2] { a[2] } else { b[2] },
            if m[3] { a[3] } else { b[3] },
        ])
    }
    #[inline(always)]
    fn to_bits(self) -> I4 {
        I4(map4(self.0, |a| a.to_bits() as i32))
    }
    #[inline(always)]
    fn from_bits(i: I4) -> F4 {
        F4(map4(i.0, |a| f32::from_bits(a as u32)))
    }
    #[inline(always)]
    fn map_lanes(self, m: M4, src: F4, f: impl Fn(f32) -> f32) -> F4 {
        let mut v = self.0;
        for ((v, m), s) in v.iter_mut().zip(m.0).zip(src.0) {
            if m {
                *v = f(s);
            }
        }
        F4(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> F4 {
        // SAFETY: the caller guarantees 4 readable values.
        F4(unsafe { p.cast::<[f32; 4]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 4 writable values.
        unsafe { p.cast::<[f32; 4]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> F4 {
        let mut v = [0f32; 4];
        // SAFETY: the caller guarantees `n` (< 4) readable values.
        unsafe { std::ptr::copy_nonoverlapping(p, v.as_mut_ptr(), n) };
        F4(v)
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, n: usize) {
        // SAFETY: the caller guarantees `n` (< 4) writable values.
        unsafe { std::ptr::copy_nonoverlapping(self.0.as_ptr(), p, n) };
    }
}

#[cfg(test)]
mod tests {
    use super::fma;

    /// The emulated fused multiply-add equals the C library's (hardware or exact software).
    #[test]
    fn fma_is_correctly_rounded() {
        let mut s = 0x9e37_79b9_u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        let special = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            f32::MIN_POSITIVE,
            1e-45,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0 + f32::EPSILON,
            1.0 - f32::EPSILON / 2.0,
        ];
        for i in 0..3_000_000u32 {
            let (a, b, c) = if i < 1728 {
                let k = i as usize;
                (special[k % 12], special[k / 12 % 12], special[k / 144 % 12])
            } else {
                // near-cancelling sums, random magnitudes
                let a = f32::from_bits((next() & 0xbfff_ffff) | (0x3000_0000 * (i & 1)));
                let b = f32::from_bits(next() & 0xbfff_ffff);
                let c = if i % 3 == 0 {
                    -(a * b) * f32::from_bits(0x3f80_0000 + (next() & 0xf))
                } else {
                    f32::from_bits(next())
                };
                (a, b, c)
            };
            check(a, b, c);
        }
        // double-rounding traps: the exact sum lies just off an f32 tie, and its f64 rounding
        // on the tie (a plain f64 evaluation would round the wrong way)
        for e in -100..100 {
            let sc = 2f32.powi(e);
            for (sa, sb) in [(1.0, 1.0), (-1.0, 1.0), (1.0, -1.0), (-1.0, -1.0)] {
                for d in [-18, -17, -15, -12] {
                    let a = sa * 2f32.powi(-24) * (1.0 + 2f32.powi(d)) * sc;
                    let b = sb * (1.0 - 2f32.powi(d));
                    for c in [1.0 + f32::EPSILON, 1.0, 1.0 + 3.0 * f32::EPSILON] {
                        check(a, b, c * sc);
                        check(a, b, -c * sc);
                    }
                }
            }
        }
    }

    fn check(a: f32, b: f32, c: f32) {
        let (got, want) = (fma(a, b, c), libm_fma(a, b, c));
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "fma({a:e}, {b:e}, {c:e}) = {got:e}, want {want:e}"
        );
    }

    fn libm_fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}
