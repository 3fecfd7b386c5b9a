//! Natural and base-10 logarithms.
//!
//! The method of FreeBSD's `e_logf.c` / `e_log10f.c` (fdlibm): `x = 2^k (1 + f)` with
//! `sqrt(2)/2 <= 1 + f < sqrt(2)` (`f` exact), `s = f / (2 + f)`,
//! `log(1 + f) = f - hfsq + s (hfsq + R(s^2))` with `hfsq = f^2 / 2` and a degree-4 `R`.
//! `log10` splits `f - hfsq` into a 12-bit head and a tail so that the products with the two
//! parts of `1/ln 10` and `log10 2` are exact or small.

use super::exp::SHIFTER;
use super::simd::{Vf, Vi, Vm};

// |(log(1+s) - log(1-s))/s - Lg(s)| < 2^-34.24 (FreeBSD e_logf.c)
const LG1: f32 = 0.666_666_6;
const LG2: f32 = 0.400_009_72;
const LG3: f32 = 0.284_987_87;
const LG4: f32 = 0.242_790_79;
const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
const IVLN10_HI: f32 = f32::from_bits(0x3ede_6000);
const IVLN10_LO: f32 = f32::from_bits(0xb804_ead9);
const LOG10_2_HI: f32 = f32::from_bits(0x3e9a_2080);
const LOG10_2_LO: f32 = f32::from_bits(0x3554_27db);

/// Integer lanes (|k| < 2^22) to floats, exactly.
#[inline(always)]
fn i2f<V: Vf>(k: V::I) -> V {
    V::from_bits(k + V::splat(SHIFTER).to_bits()) - V::splat(SHIFTER)
}

/// `(k, f, hfsq, r)` with `x = 2^k (1 + f)` and `log(1 + f) = f - hfsq + r`, for finite `x > 0`
/// (other lanes hold garbage, replaced by [`special`]).
#[inline(always)]
fn parts<V: Vf>(x: V) -> (V, V, V, V) {
    // subnormals: scale into the normal range first
    let tiny = x.lt(V::splat(f32::MIN_POSITIVE));
    let xs = V::select(tiny, x * V::splat(33_554_432.0), x); // 2^25
    let kadj = V::select(tiny, V::splat(-25.0), V::splat(0.0));
    let ix = xs.to_bits();
    let mant = ix & V::I::splat(0x007f_ffff);
    // 1 if the mantissa is at least sqrt(2): then halve it and add one to k
    let i = (mant + V::I::splat(0x004a_fb20)) & V::I::splat(0x0080_0000);
    let m = V::from_bits(mant | (i ^ V::I::splat(0x3f80_0000)));
    let k = ix.sra(23) - V::I::splat(127) + i.sra(23);
    let dk = i2f::<V>(k) + kadj;
    let f = m - V::splat(1.0);
    let s = f / (V::splat(2.0) + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (V::splat(LG2) + w * V::splat(LG4));
    let t2 = z * (V::splat(LG1) + w * V::splat(LG3));
    let r = t2 + t1;
    let hfsq = V::splat(0.5) * f * f;
    (dk, f, hfsq, s * (hfsq + r))
}

/// The result for lanes where `x` is not a finite positive number: `-inf` at `±0`, `+inf` at
/// `+inf`, NaN below 0 and for NaN.
#[inline(always)]
fn special<V: Vf>(x: V, normal: V) -> V {
    let ok = V::splat(0.0).lt(x).and(x.lt(V::splat(f32::INFINITY)));
    let other = V::select(
        x.eq(V::splat(0.0)),
        V::splat(f32::NEG_INFINITY),
        V::select(
            x.eq(V::splat(f32::INFINITY)),
            V::splat(f32::INFINITY),
            V::splat(f32::NAN),
        ),
    );
    V::select(ok, normal, other)
}

/// Natural logarithm.
#[inline(always)]
pub(crate) fn ln<V: Vf>(x: V) -> V {
    let (dk, f, hfsq, r) = parts(x);
    let y = dk * V::splat(LN2_HI) - ((hfsq - (r + dk * V::splat(LN2_LO))) - f);
    special(x, y)
}

/// Base-10 logarithm.
#[inline(always)]
pub(crate) fn log10<V: Vf>(x: V) -> V {
    let (dk, f, hfsq, r) = parts(x);
    let hi = f - hfsq;
    let hi = V::from_bits(hi.to_bits() & V::I::splat(0xffff_f000_u32 as i32));
    let lo = (f - hi) - hfsq + r;
    let y = dk * V::splat(LOG10_2_LO)
        + (lo + hi) * V::splat(IVLN10_LO)
        + lo * V::splat(IVLN10_HI)
        + hi * V::splat(IVLN10_HI)
        + dk * V::splat(LOG10_2_HI);
    special(x, y)
}
