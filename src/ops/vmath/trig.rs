//! `sin`, `cos` and `tan`.
//!
//! `|x| = n pi/2 + r` with `|r| <= pi/4`, `r` kept as an unevaluated sum `r + rl`: a three-part
//! `pi/2` (72 bits) with fused multiply-adds and error-free sums (Cody–Waite), accurate for
//! `|x| <= 2^17` ([`REDUCTION_LIMIT`]). Beyond that (and for ±inf and NaN) the lane is computed
//! in f64 by the standard library instead (correctly reduced, slower).
//!
//! Kernels on `[-pi/4, pi/4]`: `sin r = r + r^3 S(r^2)` (degree 3 in `r^2`),
//! `cos r = 1 - r^2/2 + r^4 C(r^2)` (degree 3) with the head `1 - r^2/2` split exactly,
//! `tan r = r + r^3 T(r^2)` (degree 7) and `-1/tan r` with one Newton correction. All minimax
//! for the relative error; the low part `rl` enters through the first-order term.

use super::exp::SHIFTER;
use super::simd::{
    abs, fast_two_sum, horner, neg, nmul_add, sign_bit, two_sum, xor_sign, Vf, Vi, Vm,
};

/// Largest `|x|` reduced in f32; the ≤ 2 ulp promise holds everywhere (beyond, in f64).
pub const REDUCTION_LIMIT: f32 = 131_072.0;
const TWO_OVER_PI: f32 = f32::from_bits(0x3f22_f983);
/// pi/2 = P1 + P2 + P3 + O(2^-76)
const P1: f32 = f32::from_bits(0x3fc9_0fdb);
const P2: f32 = f32::from_bits(0xb33b_bd2e);
const P3: f32 = f32::from_bits(0xa6f7_2ced);

/// `(sin r - r) / r^3` in `r^2`, `|r| <= pi/4`.
const SIN_P: [f32; 4] = [
    -0.166_666_67,
    0.008_333_329,
    -0.000_198_393_13,
    2.718_121_6e-6,
];
/// `(cos r - 1 + r^2/2) / r^4` in `r^2`.
const COS_P: [f32; 4] = [
    0.041_666_668,
    -0.001_388_888_3,
    2.479_946e-5,
    -2.720_575_5e-7,
];
/// `(tan r - r) / r^3` in `r^2`.
const TAN_P: [f32; 8] = [
    0.333_333_3,
    0.133_334_1,
    0.053_954_67,
    0.021_984_387,
    0.008_332_558,
    0.004_990_157,
    -0.000_592_945_55,
    0.002_039_86,
];

/// `(quadrant, r, rl)` for `a = |x| <= REDUCTION_LIMIT`: `a = n pi/2 + r + rl`, quadrant = `n`
/// in the low bits.
#[inline(always)]
fn reduce<V: Vf>(a: V) -> (V::I, V, V) {
    let k = a.mul_add(V::splat(TWO_OVER_PI), V::splat(SHIFTER));
    let n = k - V::splat(SHIFTER);
    let q = k.to_bits() - V::splat(SHIFTER).to_bits();
    let r1 = nmul_add(n, V::splat(P1), a); // exact
    let p = n * V::splat(P2);
    let pe = n.mul_add(V::splat(P2), neg(p)); // n P2 = p + pe exactly
    let (rh, e) = two_sum(r1, neg(p));
    let rl = (e - pe) - n * V::splat(P3);
    let (r, rl) = fast_two_sum(rh, rl);
    (q, r, rl)
}

#[inline(always)]
fn sin_kernel<V: Vf>(r: V, rl: V, r2: V) -> V {
    let corr = rl * nmul_add(V::splat(0.5), r2, V::splat(1.0));
    r + (r * r2).mul_add(horner(r2, &SIN_P), corr)
}

#[inline(always)]
fn cos_kernel<V: Vf>(r: V, rl: V, r2: V) -> V {
    let r2e = r.mul_add(r, neg(r2)); // r*r = r2 + r2e exactly
    let hr = V::splat(0.5) * r2;
    let w = V::splat(1.0) - hr;
    let head_err = (V::splat(1.0) - w) - hr;
    let tail = (r2 * r2).mul_add(horner(r2, &COS_P), neg(V::splat(0.5).mul_add(r2e, r * rl)));
    w + (head_err + tail)
}

/// `|x|`, the reduction, `r^2`, and the lanes to compute in f64.
#[inline(always)]
fn prepare<V: Vf>(x: V) -> (V::I, V, V, V, V::M) {
    let a = abs(x);
    let big = a.le(V::splat(REDUCTION_LIMIT)).not();
    let (q, r, rl) = reduce(a);
    (q, r, rl, r * r, big)
}

/// `sin x`.
#[inline(always)]
pub(crate) fn sin<V: Vf>(x: V) -> V {
    let (q, r, rl, r2, big) = prepare(x);
    let (s, c) = (sin_kernel(r, rl, r2), cos_kernel(r, rl, r2));
    let odd = (q & V::I::splat(1)).eq(V::I::splat(1));
    let v = V::select(odd, c, s);
    let sign = ((q & V::I::splat(2)).shl(30)) ^ sign_bit(x);
    let v = xor_sign(v, sign);
    if big.any() {
        v.map_lanes(big, x, |x| f64::from(x).sin() as f32)
    } else {
        v
    }
}

/// `cos x`.
#[inline(always)]
pub(crate) fn cos<V: Vf>(x: V) -> V {
    let (q, r, rl, r2, big) = prepare(x);
    let (s, c) = (sin_kernel(r, rl, r2), cos_kernel(r, rl, r2));
    let odd = (q & V::I::splat(1)).eq(V::I::splat(1));
    let v = V::select(odd, s, c);
    let sign = ((q + V::I::splat(1)) & V::I::splat(2)).shl(30);
    let v = xor_sign(v, sign);
    if big.any() {
        v.map_lanes(big, x, |x| f64::from(x).cos() as f32)
    } else {
        v
    }
}

/// `tan x`.
#[inline(always)]
pub(crate) fn tan<V: Vf>(x: V) -> V {
    let (q, r, rl, r2, big) = prepare(x);
    // r^3 = r3 + r3e almost exactly: its rounding would cost up to 0.4 ulp near pi/4
    let r2e = r.mul_add(r, neg(r2));
    let r3 = r * r2;
    let r3e = r.mul_add(r2, neg(r3)) + r * r2e;
    let t = horner(r2, &TAN_P);
    let tail = r3.mul_add(t, r3e.mul_add(t, rl * (V::splat(1.0) + r2)));
    let (th, tl) = fast_two_sum(r, tail);
    // odd quadrants: -1 / (th + tl), refined once
    let q0 = V::splat(1.0) / th;
    let res = nmul_add(q0, th, V::splat(1.0)) - q0 * tl;
    let inv = res.mul_add(q0, q0);
    let odd = (q & V::I::splat(1)).eq(V::I::splat(1));
    let v = V::select(odd, neg(inv), th);
    let v = xor_sign(v, sign_bit(x));
    if big.any() {
        v.map_lanes(big, x, |x| f64::from(x).tan() as f32)
    } else {
        v
    }
}
