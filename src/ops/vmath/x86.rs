//! The AVX2+FMA (8 lanes) and AVX-512F (16 lanes) implementations of [`Vf`].
//!
//! Soundness: the intrinsics below need their CPU features. Values of these types are only
//! created inside the `#[target_feature]` entry points of [`super::dispatch`], which run after
//! the features were detected, and every method is `#[inline(always)]`, so it is compiled into
//! those entry points with their features enabled. The types are private to this module tree.

use std::arch::x86_64::*;
use std::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Sub};

use super::simd::{Vf, Vi, Vm};

macro_rules! binop {
    ($t:ident, $tr:ident, $f:ident, $intr:ident) => {
        impl $tr for $t {
            type Output = $t;
            #[inline(always)]
            fn $f(self, o: $t) -> $t {
                // SAFETY: see the module documentation.
                $t(unsafe { $intr(self.0, o.0) })
            }
        }
    };
}

// ---- AVX2 + FMA -----------------------------------------------------------------------------------

/// 8 `f32` lanes (AVX2 + FMA).
#[derive(Clone, Copy)]
pub(crate) struct F8(__m256);
/// 8 `i32` lanes.
#[derive(Clone, Copy)]
pub(crate) struct I8(__m256i);
/// 8-lane mask (all-ones lanes).
#[derive(Clone, Copy)]
pub(crate) struct M8(__m256);

binop!(F8, Add, add, _mm256_add_ps);
binop!(F8, Sub, sub, _mm256_sub_ps);
binop!(F8, Mul, mul, _mm256_mul_ps);
binop!(F8, Div, div, _mm256_div_ps);
binop!(I8, Add, add, _mm256_add_epi32);
binop!(I8, Sub, sub, _mm256_sub_epi32);
binop!(I8, BitAnd, bitand, _mm256_and_si256);
binop!(I8, BitOr, bitor, _mm256_or_si256);
binop!(I8, BitXor, bitxor, _mm256_xor_si256);

impl Vm for M8 {
    #[inline(always)]
    fn and(self, o: M8) -> M8 {
        // SAFETY: see the module documentation.
        M8(unsafe { _mm256_and_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn not(self) -> M8 {
        // SAFETY: see the module documentation.
        M8(unsafe { _mm256_xor_ps(self.0, _mm256_castsi256_ps(_mm256_set1_epi32(-1))) })
    }
    #[inline(always)]
    fn any(self) -> bool {
        // SAFETY: see the module documentation.
        unsafe { _mm256_movemask_ps(self.0) != 0 }
    }
}

impl Vi for I8 {
    type M = M8;
    #[inline(always)]
    fn splat(v: i32) -> I8 {
        // SAFETY: see the module documentation.
        I8(unsafe { _mm256_set1_epi32(v) })
    }
    #[inline(always)]
    fn shl(self, n: u32) -> I8 {
        // SAFETY: see the module documentation.
        I8(unsafe { _mm256_sllv_epi32(self.0, _mm256_set1_epi32(n as i32)) })
    }
    #[inline(always)]
    fn sra(self, n: u32) -> I8 {
        // SAFETY: see the module documentation.
        I8(unsafe { _mm256_srav_epi32(self.0, _mm256_set1_epi32(n as i32)) })
    }
    #[inline(always)]
    fn eq(self, o: I8) -> M8 {
        // SAFETY: see the module documentation.
        M8(unsafe { _mm256_castsi256_ps(_mm256_cmpeq_epi32(self.0, o.0)) })
    }
}

impl Vf for F8 {
    type I = I8;
    type M = M8;
    const LANES: usize = 8;

    #[inline(always)]
    fn splat(v: f32) -> F8 {
        // SAFETY: see the module documentation.
        F8(unsafe { _mm256_set1_ps(v) })
    }
    #[inline(always)]
    fn mul_add(self, b: F8, c: F8) -> F8 {
        // SAFETY: see the module documentation.
        F8(unsafe { _mm256_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    fn sqrt(self) -> F8 {
        // SAFETY: see the module documentation.
        F8(unsafe { _mm256_sqrt_ps(self.0) })
    }
    #[inline(always)]
    fn min(self, o: F8) -> F8 {
        // SAFETY: see the module documentation.
        F8(unsafe { _mm256_min_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn max(self, o: F8) -> F8 {
        // SAFETY: see the module documentation.
        F8(unsafe { _mm256_max_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn lt(self, o: F8) -> M8 {
        // SAFETY: see the module documentation.
        M8(unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(self.0, o.0) })
    }
    #[inline(always)]
    fn le(self, o: F8) -> M8 {
        // SAFETY: see the module documentation.
        M8(unsafe { _mm256_cmp_ps::<_CMP_LE_OQ>(self.0, o.0) })
    }
    #[inline(always)]
    fn eq(self, o: F8) -> M8 {
        // SAFETY: see the module documentation.
        M8(unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, o.0) })
    }
    #[inline(always)]
    fn select(m: M8, a: F8, b: F8) -> F8 {
        // SAFETY: see the module documentation.
        F8(unsafe { _mm256_blendv_ps(b.0, a.0, m.0) })
    }
    #[inline(always)]
    fn to_bits(self) -> I8 {
        // SAFETY: see the module documentation.
        I8(unsafe { _mm256_castps_si256(self.0) })
    }
    #[inline(always)]
    fn from_bits(i: I8) -> F8 {
        // SAFETY: see the module documentation.
        F8(unsafe { _mm256_castsi256_ps(i.0) })
    }
    #[inline(always)]
    fn map_lanes(self, m: M8, src: F8, f: impl Fn(f32) -> f32) -> F8 {
        let (mut v, mut s) = ([0f32; 8], [0f32; 8]);
        // SAFETY: see the module documentation; the arrays hold 8 values.
        let bits = unsafe {
            _mm256_storeu_ps(v.as_mut_ptr(), self.0);
            _mm256_storeu_ps(s.as_mut_ptr(), src.0);
            _mm256_movemask_ps(m.0)
        };
        for (i, (v, s)) in v.iter_mut().zip(s).enumerate() {
            if bits & (1 << i) != 0 {
                *v = f(s);
            }
        }
        // SAFETY: as above.
        F8(unsafe { _mm256_loadu_ps(v.as_ptr()) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> F8 {
        // SAFETY: the caller guarantees 8 readable values.
        F8(unsafe { _mm256_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 8 writable values.
        unsafe { _mm256_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> F8 {
        let mut buf = [0f32; 8];
        // SAFETY: the caller guarantees `n` (< 8) readable values.
        unsafe {
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            F8(_mm256_loadu_ps(buf.as_ptr()))
        }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, n: usize) {
        let mut buf = [0f32; 8];
        // SAFETY: the caller guarantees `n` (< 8) writable values.
        unsafe {
            _mm256_storeu_ps(buf.as_mut_ptr(), self.0);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
}

// ---- AVX-512F -------------------------------------------------------------------------------------

/// 16 `f32` lanes (AVX-512F).
#[derive(Clone, Copy)]
pub(crate) struct F16(__m512);
/// 16 `i32` lanes.
#[derive(Clone, Copy)]
pub(crate) struct I16(__m512i);
/// 16-lane mask register.
#[derive(Clone, Copy)]
pub(crate) struct M16(__mmask16);

binop!(F16, Add, add, _mm512_add_ps);
binop!(F16, Sub, sub, _mm512_sub_ps);
binop!(F16, Mul, mul, _mm512_mul_ps);
binop!(F16, Div, div, _mm512_div_ps);
binop!(I16, Add, add, _mm512_add_epi32);
binop!(I16, Sub, sub, _mm512_sub_epi32);
binop!(I16, BitAnd, bitand, _mm512_and_si512);
binop!(I16, BitOr, bitor, _mm512_or_si512);
binop!(I16, BitXor, bitxor, _mm512_xor_si512);

impl Vm for M16 {
    #[inline(always)]
    fn and(self, o: M16) -> M16 {
        M16(self.0 & o.0)
    }
    #[inline(always)]
    fn not(self) -> M16 {
        M16(!self.0)
    }
    #[inline(always)]
    fn any(self) -> bool {
        self.0 != 0
    }
}

impl Vi for I16 {
    type M = M16;
    #[inline(always)]
    fn splat(v: i32) -> I16 {
        // SAFETY: see the module documentation.
        I16(unsafe { _mm512_set1_epi32(v) })
    }
    #[inline(always)]
    fn shl(self, n: u32) -> I16 {
        // SAFETY: see the module documentation.
        I16(unsafe { _mm512_sllv_epi32(self.0, _mm512_set1_epi32(n as i32)) })
    }
    #[inline(always)]
    fn sra(self, n: u32) -> I16 {
        // SAFETY: see the module documentation.
        I16(unsafe { _mm512_srav_epi32(self.0, _mm512_set1_epi32(n as i32)) })
    }
    #[inline(always)]
    fn eq(self, o: I16) -> M16 {
        // SAFETY: see the module documentation.
        M16(unsafe { _mm512_cmpeq_epi32_mask(self.0, o.0) })
    }
}

impl Vf for F16 {
    type I = I16;
    type M = M16;
    const LANES: usize = 16;

    #[inline(always)]
    fn splat(v: f32) -> F16 {
        // SAFETY: see the module documentation.
        F16(unsafe { _mm512_set1_ps(v) })
    }
    #[inline(always)]
    fn mul_add(self, b: F16, c: F16) -> F16 {
        // SAFETY: see the module documentation.
        F16(unsafe { _mm512_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    fn sqrt(self) -> F16 {
        // SAFETY: see the module documentation.
        F16(unsafe { _mm512_sqrt_ps(self.0) })
    }
    #[inline(always)]
    fn min(self, o: F16) -> F16 {
        // SAFETY: see the module documentation.
        F16(unsafe { _mm512_min_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn max(self, o: F16) -> F16 {
        // SAFETY: see the module documentation.
        F16(unsafe { _mm512_max_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn lt(self, o: F16) -> M16 {
        // SAFETY: see the module documentation.
        M16(unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, o.0) })
    }
    #[inline(always)]
    fn le(self, o: F16) -> M16 {
        // SAFETY: see the module documentation.
        M16(unsafe { _mm512_cmp_ps_mask::<_CMP_LE_OQ>(self.0, o.0) })
    }
    #[inline(always)]
    fn eq(self, o: F16) -> M16 {
        // SAFETY: see the module documentation.
        M16(unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(self.0, o.0) })
    }
    #[inline(always)]
    fn select(m: M16, a: F16, b: F16) -> F16 {
        // SAFETY: see the module documentation.
        F16(unsafe { _mm512_mask_blend_ps(m.0, b.0, a.0) })
    }
    #[inline(always)]
    fn to_bits(self) -> I16 {
        // SAFETY: see the module documentation.
        I16(unsafe { _mm512_castps_si512(self.0) })
    }
    #[inline(always)]
    fn from_bits(i: I16) -> F16 {
        // SAFETY: see the module documentation.
        F16(unsafe { _mm512_castsi512_ps(i.0) })
    }
    #[inline(always)]
    fn map_lanes(self, m: M16, src: F16, f: impl Fn(f32) -> f32) -> F16 {
        let (mut v, mut s) = ([0f32; 16], [0f32; 16]);
        // SAFETY: see the module documentation; the arrays hold 16 values.
        unsafe {
            _mm512_storeu_ps(v.as_mut_ptr(), self.0);
            _mm512_storeu_ps(s.as_mut_ptr(), src.0);
        }
        for (i, (v, s)) in v.iter_mut().zip(s).enumerate() {
            if m.0 & (1 << i) != 0 {
                *v = f(s);
            }
        }
        // SAFETY: as above.
        F16(unsafe { _mm512_loadu_ps(v.as_ptr()) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> F16 {
        // SAFETY: the caller guarantees 16 readable values.
        F16(unsafe { _mm512_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees 16 writable values.
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> F16 {
        let k: __mmask16 = ((1u32 << n) - 1) as __mmask16;
        // SAFETY: the caller guarantees `n` (< 16) readable values; masked-off lanes are not
        // accessed.
        F16(unsafe { _mm512_maskz_loadu_ps(k, p) })
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, n: usize) {
        let k: __mmask16 = ((1u32 << n) - 1) as __mmask16;
        // SAFETY: the caller guarantees `n` (< 16) writable values; masked-off lanes are not
        // written.
        unsafe { _mm512_mask_storeu_ps(p, k, self.0) }
    }
}
