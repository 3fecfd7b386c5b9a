//! `exp` and the functions built on it: `tanh`, `sigmoid` and the normal density.
//!
//! `exp(x) = 2^n e^r` with `n = round(x / ln 2)` and `|r| <= ln 2 / 2` (Cody–Waite reduction
//! with a two-part `ln 2`, exact thanks to the fused multiply-add, and the rounding error of `r`
//! kept), `e^r = 1 + r + r^2 P(r)` with a degree-5 minimax `P` (relative error 2^-29.8 with its
//! f32 coefficients), `1 + r` summed exactly. The scaling by `2^n` is done in two exact steps so
//! that results in the subnormal range are rounded once more only there, and overflow happens
//! where it should.
//!
//! `tanh`, `sigmoid` and the normal density take `e^r` as an unevaluated sum `hi + lo`, so the
//! quotient or product they form is refined once (a Newton step on the reciprocal) and rounded
//! once at the end.

use super::simd::{abs, fast_two_sum, horner, neg, nmul_add, pow2i, sign_bit, two_sum, Vf, Vi};

/// 1.5 * 2^23: adding it rounds to an integer, whose value is then in the low mantissa bits.
pub(crate) const SHIFTER: f32 = 12_582_912.0;
const LOG2E: f32 = f32::from_bits(0x3fb8_aa3b);
/// `ln 2` rounded to f32, and the rest.
const LN2_HI: f32 = f32::from_bits(0x3f31_7218);
const LN2_LO: f32 = f32::from_bits(0xb102_e308);
/// `(e^r - 1 - r) / r^2` on `|r| <= 0.3466`, minimax for the relative error of `e^r`.
const EXP_P: [f32; 6] = [
    0.5,
    0.166_666_66,
    0.041_666_295,
    0.008_333_497,
    0.001_394_465_8,
    0.000_197_903_49,
];
/// Below this `exp` is 0 (`e^x < 2^-150`), above [`EXP_HI`] it overflows.
const EXP_LO: f32 = -104.0;
const EXP_HI: f32 = 89.0;

/// `e^x = 2^n (hi + lo)` for `x` in `[EXP_LO, EXP_HI]`: `n` an integer, `hi = fl(e^r)` and
/// `lo` the rest (`|lo| <= 2^-24`, accurate to about 2^-30 relative).
///
/// The reduced argument is kept as `r + rl` and `1 + r` as an exact sum, so the only
/// rounding left at the size of an ulp of the result is the final `hi = fl(...)`.
#[inline(always)]
pub(crate) fn exp_parts<V: Vf>(x: V) -> (V::I, V, V) {
    let k = x.mul_add(V::splat(LOG2E), V::splat(SHIFTER));
    let n = k - V::splat(SHIFTER);
    let ni = k.to_bits() - V::splat(SHIFTER).to_bits();
    let r1 = nmul_add(n, V::splat(LN2_HI), x); // exact
    let r = nmul_add(n, V::splat(LN2_LO), r1);
    let rl = nmul_add(n, V::splat(LN2_LO), r1 - r); // r1 - r is exact
                                                    // e^(r + rl) = 1 + r + rl + r^2 P(r)
    let t2 = (r * r).mul_add(horner(r, &EXP_P), rl);
    let (h, l) = fast_two_sum(V::splat(1.0), r);
    let (hi, lo) = fast_two_sum(h, l + t2);
    (ni, hi, lo)
}

/// `(2^(n/2), 2^(n - n/2))`: two factors whose product is `2^n` for `-252 <= n <= 254`.
#[inline(always)]
fn scale2<V: Vf>(n: V::I) -> (V, V) {
    let n1 = n.sra(1);
    (pow2i(n1), pow2i(n - n1))
}

/// Clamps to `[lo, hi]`; a NaN passes through.
#[inline(always)]
pub(crate) fn clamp<V: Vf>(x: V, lo: f32, hi: f32) -> V {
    V::splat(lo).max(V::splat(hi).min(x))
}

/// `e^x`.
#[inline(always)]
pub(crate) fn exp<V: Vf>(x: V) -> V {
    let (n, hi, _) = exp_parts(clamp(x, EXP_LO, EXP_HI));
    let (s1, s2) = scale2::<V>(n);
    (hi * s1) * s2
}

/// Below this `|x|`, `tanh` is its odd polynomial.
const TANH_SMALL: f32 = 0.625;
/// `(tanh x - x) / x^3` in `x^2` on `|x| <= 0.625` (minimax, relative error 2^-28.5).
const TANH_P: [f32; 6] = [
    -0.333_333_3,
    0.133_332_06,
    -0.053_946_763,
    0.021_700_704,
    -0.008_177_401,
    0.002_142_963_7,
];

/// `tanh x`: `x + x^3 P(x^2)` for `|x| < 0.625`, else `1 - 2 / (e^(2|x|) + 1)` with the sign of
/// `x` (exactly `±1` beyond `|x| = 9.1`).
#[inline(always)]
pub(crate) fn tanh<V: Vf>(x: V) -> V {
    let a = abs(x);
    let z = a * a;
    let small = (a * z).mul_add(horner(z, &TANH_P), a);
    // e^(2a) = 2^n (ph + pl), 2a <= 20 so n <= 29
    let (n, ph, pl) = exp_parts(V::splat(20.0).min(a + a));
    let s = pow2i::<V>(n);
    let (d, dl) = fast_two_sum(ph * s, V::splat(1.0));
    let dl = dl + pl * s;
    // q = 2 / (d + dl), refined once
    let rcp = V::splat(1.0) / d;
    let q0 = rcp + rcp;
    let res = nmul_add(q0, d, V::splat(2.0)) - q0 * dl;
    let q = res.mul_add(rcp, q0);
    let large = V::splat(1.0) - q;
    let t = V::select(a.lt(V::splat(TANH_SMALL)), small, large);
    V::from_bits(t.to_bits() | sign_bit(x))
}

/// `1 / (1 + e^-x)`, computed as `1 / (1 + e)` (x >= 0) or `e / (1 + e)` (x < 0) with
/// `e = e^-|x|`, so that no cancellation occurs.
#[inline(always)]
pub(crate) fn sigmoid<V: Vf>(x: V) -> V {
    let a = abs(x);
    let (n, ph, pl) = exp_parts(V::splat(EXP_LO).max(neg(a)));
    let (s1, s2) = scale2::<V>(n);
    let eh = (ph * s1) * s2;
    let el = (pl * s1) * s2;
    let (d, dl) = fast_two_sum(V::splat(1.0), eh);
    let dl = dl + el;
    let negative = x.lt(V::splat(0.0));
    let nh = V::select(negative, eh, V::splat(1.0));
    let nl = V::select(negative, el, V::splat(0.0));
    // (nh + nl) / (d + dl), refined once
    let rcp = V::splat(1.0) / d;
    let q0 = nh * rcp;
    let res = nmul_add(q0, d, nh) + nmul_add(q0, dl, nl);
    res.mul_add(rcp, q0)
}

/// Parameters of the normal density `exp(-((x - mu) / sigma)^2 / 2) / (sqrt(2 pi) sigma)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gauss {
    mu: f32,
    sigma: f32,
    /// `ln(1 / (sqrt(2 pi) |sigma|))` as an unevaluated sum
    ln_norm_hi: f32,
    ln_norm_lo: f32,
    /// the sign of sigma, as a sign bit
    sign: i32,
}

impl Gauss {
    pub(crate) fn new(mu: f32, sigma: f32) -> Gauss {
        let ln_norm = -(0.5 * (2.0 * std::f64::consts::PI).ln() + f64::from(sigma.abs()).ln());
        let ln_norm_hi = ln_norm as f32;
        Gauss {
            mu,
            sigma,
            ln_norm_hi,
            ln_norm_lo: (ln_norm - f64::from(ln_norm_hi)) as f32,
            sign: (sigma.to_bits() & 0x8000_0000) as i32,
        }
    }
}

/// The normal density, as `exp(-z^2/2 + ln norm)` with `z = (x - mu) / sigma` and the exponent
/// carried as an unevaluated sum, so that the result is rounded once (also where it underflows
/// or overflows).
#[inline(always)]
pub(crate) fn gaussian<V: Vf>(x: V, p: &Gauss) -> V {
    let sigma = V::splat(p.sigma);
    let (dh, dl) = two_sum(x, V::splat(-p.mu));
    let zh = dh / sigma;
    let zl = (nmul_add(zh, sigma, dh) + dl) / sigma;
    // w = -z^2 / 2 = wh + wl
    let hz = zh * V::splat(-0.5);
    let wh = hz * zh;
    let wl = hz.mul_add(zh, neg(wh)) - zh * zl;
    // u = w + ln norm = uh + ul
    let (uh, e) = two_sum(wh, V::splat(p.ln_norm_hi));
    let ul = e + (wl + V::splat(p.ln_norm_lo));
    // lanes that underflow (or infinite x, where ul is NaN) need no correction
    let ul = V::select(V::splat(EXP_LO).le(uh), ul, V::splat(0.0));
    let (n, ph, pl) = exp_parts(clamp(uh, EXP_LO, EXP_HI));
    // e^uh (1 + ul) = 2^n (ph + pl + ph ul)
    let m = ph + ph.mul_add(ul, pl);
    let (s1, s2) = scale2::<V>(n);
    let g = (m * s1) * s2;
    V::from_bits(g.to_bits() ^ V::I::splat(p.sign))
}
