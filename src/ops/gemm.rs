//! The single-precision matrix product `C = A·B + beta·C` of the library (`matmul` and the
//! gradients of every product use it through [`crate::core::Real::gemm`]).
//!
//! On x86-64 CPUs with AVX-512F the product is computed here; elsewhere ndarray's
//! `general_mat_mul` (the `matrixmultiply` crate) computes it, as it does for `f64`.
//!
//! # Method
//! A micro-kernel keeps a 16 × 8 tile of C in 8 zmm registers: per step `p` of the inner
//! dimension it loads 16 values of column `p` of A and broadcasts the 8 values of row `p` of B
//! into 8 FMAs; then it adds the tile to C (masked stores at the edges). With `n <= 4` a 32 × 4
//! tile is used instead. The loops around it are blocked for the caches:
//! * the depth `k` is cut into `ceil(k / KC)` blocks of nearly equal size (at most [`KC`] = 384);
//!   an 8-column B panel of a block (12 KiB) stays in the 32 KiB L1 cache while the kernel
//!   walks down the rows of A;
//! * the rows of A into blocks of at most [`MC`] = 288, so that an A block (`MC × KC`, 432 KiB)
//!   stays in the 1 MiB L2 cache while the kernel walks across the columns of B;
//! * the columns of B into blocks of at most [`NC`] = 2048 (a packed `KC × NC` block is 3 MiB,
//!   in the L3 cache).
//!
//! An operand whose elements are contiguous along one axis and at most [`IN_PLACE_STRIDE`]
//! apart along the other is read where it is (A must have contiguous columns); otherwise its
//! block is first copied ("packed") into a per-thread buffer in the order the kernel reads it,
//! with 16 × 16 in-register transposes for row-major A and column-major B. Reading in place saves
//! the copy; beyond that stride (and at power-of-two strides) cache-set and TLB conflicts make
//! the copy cheaper. On this project's reference machine (Zen 4, where a 512-bit FMA issues as
//! two 256-bit halves) every kernel shape tried (up to 48 × 8 and 32 × 14 tiles) was limited by
//! FMA throughput; the small tile wastes least on partial tiles and on the 10-row products.
//!
//! # Results
//! Every element `c(i, j)` is, for each `k` block in order, `Σ_p a(i, p) b(p, j)` accumulated
//! with FMAs in the order of `p` starting from zero, then added to `c(i, j)` (`beta·c + s` with
//! one rounding for the first block; `c + s` for the others). The blocks of `k` depend on `k`
//! only, so an element's value does not depend on the tile, the packing, the orientation or
//! which columns of C are computed together: splitting the columns across threads gives the same
//! bits as one thread. With `beta = 0`, C is not read (NaN in C does not propagate).
//!
//! Packing buffers are kept per thread (up to `MC × KC` and `KC × NC` floats, 3.4 MiB) and
//! grown fallibly: when memory runs out the product unwinds to the nearest
//! [`crate::core::alloc`] guard, which reports an out-of-memory error.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::core::{Error, Result};

/// Most values of `k` in one block (see the module documentation).
pub const KC: usize = 384;
/// Most rows of A in one block.
pub const MC: usize = 288;
/// Most columns of B in one block.
pub const NC: usize = 2048;
/// Largest stride (in elements) along the non-contiguous axis of an operand read in place.
pub const IN_PLACE_STRIDE: usize = 800;

/// An implementation of the product ([`sgemm_with`], for tests and measurements).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// ndarray's `general_mat_mul`.
    Ndarray,
    /// AVX-512, 16 × 8 tile.
    Avx512x16x8,
    /// AVX-512, 32 × 4 tile.
    Avx512x32x4,
}

/// Whether to compute `C` or `Cᵀ = Bᵀ·Aᵀ` ([`sgemm_with`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orient {
    /// `Cᵀ` if C is row-major, else `C`.
    Auto,
    /// `C = A·B`.
    Normal,
    /// `Cᵀ = Bᵀ·Aᵀ`.
    Transposed,
}

/// How to run a product ([`sgemm_with`]); `Config::default()` is what [`sgemm`] does.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// the kernel (`None`: chosen from the shape)
    pub kernel: Option<Kernel>,
    /// compute `C` or `Cᵀ`
    pub orient: Orient,
    /// most values of `k` in a block
    pub kc: usize,
    /// most rows of A in a block (rounded up to the tile)
    pub mc: usize,
    /// most columns of B in a block (rounded up to the tile)
    pub nc: usize,
    /// pack A (`None`: chosen from its strides; A is always packed unless its columns are
    /// contiguous)
    pub pack_a: Option<bool>,
    /// pack B (`None`: chosen from its strides)
    pub pack_b: Option<bool>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kernel: None,
            orient: Orient::Auto,
            kc: KC,
            mc: MC,
            nc: NC,
            pack_a: None,
            pack_b: None,
        }
    }
}

impl Kernel {
    /// Every kernel, available or not.
    pub const ALL: [Kernel; 3] = [Kernel::Ndarray, Kernel::Avx512x16x8, Kernel::Avx512x32x4];

    /// True if this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Ndarray => true,
            _ => has_avx512(),
        }
    }

    /// The kernel [`sgemm`] uses for a product with `n` columns (after the orientation).
    pub fn for_columns(n: usize) -> Kernel {
        if !has_avx512() {
            Kernel::Ndarray
        } else if n <= 4 {
            Kernel::Avx512x32x4
        } else {
            Kernel::Avx512x16x8
        }
    }

    /// The tile's rows and columns (`(1, 1)` for ndarray).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn tile(self) -> (usize, usize) {
        match self {
            Kernel::Ndarray => (1, 1),
            Kernel::Avx512x16x8 => (16, 8),
            Kernel::Avx512x32x4 => (32, 4),
        }
    }
}

/// AVX-512F (with AVX2 and FMA) detected, once.
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::atomic::{AtomicU8, Ordering};
        static DETECTED: AtomicU8 = AtomicU8::new(0);
        match DETECTED.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                let yes = is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma");
                DETECTED.store(1 + u8::from(yes), Ordering::Relaxed);
                yes
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `(m, k, n)` of `c = a · b`, or an error if the extents do not match (`a` is `m × k`, `b`
/// `k × n`, `c` `m × n`).
pub(crate) fn check_extents<T>(
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    c: &ArrayViewMut2<'_, T>,
) -> Result<(usize, usize, usize)> {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    if b.nrows() != k || c.nrows() != m || c.ncols() != n {
        return Err(Error::shape(format!(
            "gemm: cannot multiply {m}x{k} by {}x{n} into {}x{}",
            b.nrows(),
            c.nrows(),
            c.ncols()
        )));
    }
    Ok((m, k, n))
}

/// `c = a · b + beta c` for `f32` matrices of any strides.
///
/// Errors: extents that do not match (`a` is `m × k`, `b` `k × n`, `c` `m × n`).
pub fn sgemm(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) -> Result<()> {
    sgemm_with(&Config::default(), a, b, beta, c)
}

/// [`sgemm`] as `config` says (an unavailable kernel falls back to ndarray).
#[doc(hidden)]
pub fn sgemm_with(
    config: &Config,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) -> Result<()> {
    let (m, k, n) = check_extents(a, b, c)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // an empty sum: c = beta c (and 0, not NaN, for beta = 0)
        if beta == 0.0 {
            c.fill(0.0);
        } else if beta != 1.0 {
            c.map_inplace(|x| *x *= beta);
        }
        return Ok(());
    }
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    let transposed = match config.orient {
        Orient::Normal => false,
        Orient::Transposed => true,
        Orient::Auto => rsc != 1 && csc == 1,
    };
    let kernel = config
        .kernel
        .unwrap_or_else(|| Kernel::for_columns(if transposed { m } else { n }));
    if kernel == Kernel::Ndarray || !kernel.is_available() {
        ndarray::linalg::general_mat_mul(1.0, a, b, beta, c);
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mat = |v: &ArrayView2<'_, f32>| avx512::Mat {
            ptr: v.as_ptr(),
            rs: v.strides()[0],
            cs: v.strides()[1],
        };
        let p = avx512::Problem {
            m,
            n,
            k,
            a: mat(a),
            b: mat(b),
            c: avx512::MatMut {
                ptr: c.as_mut_ptr(),
                rs: rsc,
                cs: csc,
            },
            beta,
        };
        let p = if transposed { p.transposed() } else { p };
        let in_place = |rs: isize, cs: isize| {
            let near = |s: isize| s.unsigned_abs() <= IN_PLACE_STRIDE;
            (rs == 1 && near(cs)) || (cs == 1 && near(rs))
        };
        let (mr, nr) = kernel.tile();
        // the even split of k into blocks of at most kc
        let kc = config.kc.clamp(1, k);
        let kc = k.div_ceil(k.div_ceil(kc));
        let plan = avx512::Plan {
            kernel,
            kc,
            mc: config.mc.max(1).div_ceil(mr) * mr,
            nc: config.nc.max(1).div_ceil(nr) * nr,
            pack_a: p.a.rs != 1 || config.pack_a.unwrap_or(!in_place(p.a.rs, p.a.cs)),
            pack_b: config.pack_b.unwrap_or(!in_place(p.b.rs, p.b.cs)),
        };
        // SAFETY: the views give valid pointers and strides for their extents, which match and
        // are not zero (checked above); `c` is borrowed mutably, so it overlaps neither `a` nor
        // `b`, and its elements are distinct; the kernel is available (checked above); A is
        // packed unless its columns are contiguous.
        unsafe { avx512::run(&plan, &p) };
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! The AVX-512 product: packing, blocking and micro-kernels. Everything here runs only
    //! after AVX-512F, AVX2 and FMA were detected.

    use std::arch::x86_64::*;
    use std::cell::RefCell;

    use super::Kernel;
    use crate::core::alloc;

    /// A read-only matrix: element `(i, j)` at `ptr + i rs + j cs`.
    #[derive(Clone, Copy)]
    pub(super) struct Mat {
        pub ptr: *const f32,
        pub rs: isize,
        pub cs: isize,
    }

    /// The result matrix.
    #[derive(Clone, Copy)]
    pub(super) struct MatMut {
        pub ptr: *mut f32,
        pub rs: isize,
        pub cs: isize,
    }

    /// `c (m × n) = a (m × k) · b (k × n) + beta c`.
    pub(super) struct Problem {
        pub m: usize,
        pub n: usize,
        pub k: usize,
        pub a: Mat,
        pub b: Mat,
        pub c: MatMut,
        pub beta: f32,
    }

    impl Problem {
        /// The same product as `cᵀ = bᵀ aᵀ`.
        pub fn transposed(&self) -> Problem {
            let t = |x: Mat| Mat {
                ptr: x.ptr,
                rs: x.cs,
                cs: x.rs,
            };
            Problem {
                m: self.n,
                n: self.m,
                k: self.k,
                a: t(self.b),
                b: t(self.a),
                c: MatMut {
                    ptr: self.c.ptr,
                    rs: self.c.cs,
                    cs: self.c.rs,
                },
                beta: self.beta,
            }
        }
    }

    /// How a product is run: the kernel, block sizes (`kc` the even split of `k`) and whether
    /// A and B are packed or read in place.
    pub(super) struct Plan {
        pub kernel: Kernel,
        pub kc: usize,
        pub mc: usize,
        pub nc: usize,
        /// pack A (otherwise A, whose columns are contiguous, is read in place)
        pub pack_a: bool,
        /// pack B (otherwise B is read in place)
        pub pack_b: bool,
    }

    /// A thread's packing buffers, kept between products.
    #[derive(Default)]
    struct Buffers {
        a: Vec<f32>,
        b: Vec<f32>,
    }

    thread_local! {
        static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
    }

    /// The largest tile of the kernels (floats).
    const TILE: usize = 128;

    /// Floats of slack so that a buffer can start on a 64-byte boundary.
    const ALIGN: usize = 16;

    /// `v` holding at least `n` floats from a 64-byte boundary; returns that start. An
    /// allocation failure is reported to the nearest [`alloc::guard`].
    fn aligned(v: &mut Vec<f32>, n: usize) -> *mut f32 {
        if n == 0 {
            return v.as_mut_ptr();
        }
        let need = n.saturating_add(ALIGN);
        if v.len() < need {
            alloc::reserve(v, need - v.len());
            v.resize(need, 0.0);
        }
        let p = v.as_mut_ptr();
        let off = p.align_offset(64).min(ALIGN);
        // SAFETY: off <= ALIGN and the vector holds n + ALIGN floats.
        unsafe { p.add(off) }
    }

    /// Runs the product as planned.
    ///
    /// # Safety
    /// AVX-512F, AVX2 and FMA are available; the pointers and strides of `p` address valid
    /// matrices of its extents, which are not zero; `c` overlaps neither `a` nor `b`, and its
    /// elements are distinct; `plan.pack_a` unless `p.a.rs == 1`.
    pub(super) unsafe fn run(plan: &Plan, p: &Problem) {
        let (mr, nr) = plan.kernel.tile();
        let a_len = if plan.pack_a {
            p.m.min(plan.mc).div_ceil(mr) * mr * plan.kc
        } else {
            0
        };
        let b_len = if plan.pack_b {
            p.n.min(plan.nc).div_ceil(nr) * nr * plan.kc
        } else {
            0
        };
        let go = |bufs: &mut Buffers| {
            let pa = aligned(&mut bufs.a, a_len);
            let pb = aligned(&mut bufs.b, b_len);
            // SAFETY: the caller's contract; the buffers hold a_len and b_len floats.
            unsafe {
                match plan.kernel {
                    Kernel::Avx512x16x8 => modes::<1, 8>(plan, p, pa, pb),
                    Kernel::Avx512x32x4 => modes::<2, 4>(plan, p, pa, pb),
                    Kernel::Ndarray => {}
                }
            }
        };
        let done = BUFFERS
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut bufs) => {
                    go(&mut bufs);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if !done {
            // the thread is shutting down (or, impossibly, re-entered): buffers of this call
            go(&mut Buffers::default());
        }
    }

    /// [`drive`] for the plan's packing choices.
    ///
    /// # Safety
    /// As [`run`]; `pa` and `pb` hold the packed blocks.
    unsafe fn modes<const MV: usize, const NR: usize>(
        plan: &Plan,
        p: &Problem,
        pa: *mut f32,
        pb: *mut f32,
    ) {
        // SAFETY: the caller's contract.
        unsafe {
            match (plan.pack_a, plan.pack_b) {
                (true, true) => drive::<MV, NR, false, false>(plan, p, pa, pb),
                (true, false) => drive::<MV, NR, false, true>(plan, p, pa, pb),
                (false, true) => drive::<MV, NR, true, false>(plan, p, pa, pb),
                (false, false) => drive::<MV, NR, true, true>(plan, p, pa, pb),
            }
        }
    }

    /// The blocked product with the `16 MV × NR` micro-kernel; A is read in place with `DA`,
    /// B with `DB`, otherwise packed into `pa`, `pb`.
    ///
    /// # Safety
    /// As [`modes`].
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn drive<const MV: usize, const NR: usize, const DA: bool, const DB: bool>(
        plan: &Plan,
        p: &Problem,
        pa: *mut f32,
        pb: *mut f32,
    ) {
        const { assert!(16 * MV * NR <= TILE) };
        let mr = 16 * MV;
        let (kc_max, mc, nc) = (plan.kc, plan.mc, plan.nc);
        let direct = p.c.rs == 1;
        // (written whole by the micro-kernel before it is read)
        let mut tile = std::mem::MaybeUninit::<[f32; TILE]>::uninit();
        let mut jc = 0;
        while jc < p.n {
            let ncur = nc.min(p.n - jc);
            let mut pc = 0;
            while pc < p.k {
                let kc = kc_max.min(p.k - pc);
                let beta = if pc == 0 { p.beta } else { 1.0 };
                // SAFETY: (pc, jc) is inside b (the offset of an element).
                let b0 = unsafe { p.b.ptr.offset(pc as isize * p.b.rs + jc as isize * p.b.cs) };
                if !DB {
                    // SAFETY: the block is kc × ncur; pb holds its panels.
                    unsafe { pack_b::<NR>(kc, ncur, b0, p.b.rs, p.b.cs, pb) };
                }
                let mut ic = 0;
                while ic < p.m {
                    let mcur = mc.min(p.m - ic);
                    // SAFETY: (ic, pc) is inside a.
                    let a0 = unsafe { p.a.ptr.offset(ic as isize * p.a.rs + pc as isize * p.a.cs) };
                    if !DA {
                        // SAFETY: the block is mcur × kc; pa holds its panels.
                        unsafe { pack_a::<MV>(mcur, kc, a0, p.a.rs, p.a.cs, pa) };
                    }
                    let mut jr = 0;
                    while jr < ncur {
                        let nr = NR.min(ncur - jr);
                        let (bp, rsb, csb) = if DB {
                            (b0.wrapping_offset(jr as isize * p.b.cs), p.b.rs, p.b.cs)
                        } else {
                            (pb.wrapping_add(jr * kc).cast_const(), NR as isize, 1)
                        };
                        let mut ir = 0;
                        while ir < mcur {
                            let rows = mr.min(mcur - ir);
                            let (ap, lda) = if DA {
                                (a0.wrapping_add(ir), p.a.cs)
                            } else {
                                (pa.wrapping_add(ir * kc).cast_const(), mr as isize)
                            };
                            let (i, j) = ((ic + ir) as isize, (jc + jr) as isize);
                            let c0 = p.c.ptr.wrapping_offset(i * p.c.rs + j * p.c.cs);
                            let k = Panels {
                                kc,
                                a: ap,
                                lda,
                                b: bp,
                                rsb,
                                csb,
                                rows,
                                cols: nr,
                            };
                            // SAFETY: the panels hold the tile's rows and columns of the
                            // block; the tile (i, j) of c is inside c (i < m, j < n).
                            unsafe {
                                if direct {
                                    micro::<MV, NR, DA, DB>(&k, c0, p.c.cs, beta);
                                } else {
                                    let t = tile.as_mut_ptr().cast::<f32>();
                                    micro::<MV, NR, DA, DB>(&k, t, mr as isize, 0.0);
                                    add_tile(t, mr, rows, nr, c0, p.c.rs, p.c.cs, beta);
                                }
                            }
                            ir += mr;
                        }
                        jr += NR;
                    }
                    ic += mc;
                }
                pc += kc;
            }
            jc += nc;
        }
    }

    /// `c = t + beta c` for a `rows × cols` tile `t` (column stride `ld`), with one rounding
    /// (as [`micro`]'s stores); `c` is not read when `beta = 0`.
    ///
    /// # Safety
    /// `t` holds the tile; `c` with strides `rs`, `cs` addresses `rows × cols` valid elements.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn add_tile(
        t: *const f32,
        ld: usize,
        rows: usize,
        cols: usize,
        c: *mut f32,
        rs: isize,
        cs: isize,
        beta: f32,
    ) {
        for j in 0..cols {
            for i in 0..rows {
                // SAFETY: i < rows, j < cols (the caller's contract).
                unsafe {
                    let s = *t.add(i + j * ld);
                    let d = c.offset(i as isize * rs + j as isize * cs);
                    *d = if beta == 0.0 {
                        s
                    } else {
                        (*d).mul_add(beta, s)
                    };
                }
            }
        }
    }

    /// `out[q]` lane `l` = `r[l]` lane `q`: the transpose of a 16 × 16 block.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn transpose16(r: &[__m512; 16]) -> [__m512; 16] {
        // pairs of rows interleaved, then quadruples: in every 128-bit lane L of u[4g + c],
        // column 4L + c of rows 4g .. 4g + 4
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            let (x0, x1, y0, y1) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            u[4 * g] = _mm512_shuffle_ps::<0x44>(x0, y0);
            u[4 * g + 1] = _mm512_shuffle_ps::<0xEE>(x0, y0);
            u[4 * g + 2] = _mm512_shuffle_ps::<0x44>(x1, y1);
            u[4 * g + 3] = _mm512_shuffle_ps::<0xEE>(x1, y1);
        }
        // lanes 0 and 2 / 1 and 3 of row groups (0, 1) and (2, 3), then of those pairs
        let mut out = [_mm512_setzero_ps(); 16];
        for c in 0..4 {
            let e01 = _mm512_shuffle_f32x4::<0x88>(u[c], u[4 + c]);
            let o01 = _mm512_shuffle_f32x4::<0xDD>(u[c], u[4 + c]);
            let e23 = _mm512_shuffle_f32x4::<0x88>(u[8 + c], u[12 + c]);
            let o23 = _mm512_shuffle_f32x4::<0xDD>(u[8 + c], u[12 + c]);
            out[c] = _mm512_shuffle_f32x4::<0x88>(e01, e23);
            out[8 + c] = _mm512_shuffle_f32x4::<0xDD>(e01, e23);
            out[4 + c] = _mm512_shuffle_f32x4::<0x88>(o01, o23);
            out[12 + c] = _mm512_shuffle_f32x4::<0xDD>(o01, o23);
        }
        out
    }

    /// Packs the `rows × kc` block of A at `a` (strides `rs`, `cs`) as panels of `16 MV` rows:
    /// panel `q` holds, for each `p`, rows `16 MV q ..` of column `p`, zero-padded.
    ///
    /// # Safety
    /// `a` addresses a valid `rows × kc` matrix; `dst` has room for the padded panels.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn pack_a<const MV: usize>(
        rows: usize,
        kc: usize,
        a: *const f32,
        rs: isize,
        cs: isize,
        dst: *mut f32,
    ) {
        let mr = 16 * MV;
        let mut i0 = 0;
        while i0 < rows {
            let h = mr.min(rows - i0);
            // SAFETY: panel i0 / mr of dst; the source rows i0 .. i0 + h exist, and only they
            // are read (masked loads).
            unsafe {
                let d = dst.add(i0 * kc);
                let s = a.wrapping_offset(i0 as isize * rs);
                if rs == 1 {
                    // columns contiguous: a vector per 16 rows
                    for p in 0..kc {
                        let sp = s.wrapping_offset(p as isize * cs);
                        for v in 0..MV {
                            let mask = mask16(h.saturating_sub(16 * v));
                            let x = _mm512_maskz_loadu_ps(mask, sp.wrapping_add(16 * v));
                            _mm512_storeu_ps(d.add(p * mr + 16 * v), x);
                        }
                    }
                } else if cs == 1 {
                    // rows contiguous: 16 × 16 transposes
                    for v in 0..MV {
                        let live = h.saturating_sub(16 * v).min(16);
                        let mut p0 = 0;
                        while p0 < kc {
                            let w = 16.min(kc - p0);
                            let pm = mask16(w);
                            let mut r = [_mm512_setzero_ps(); 16];
                            for (i, x) in r.iter_mut().enumerate().take(live) {
                                let src = s.wrapping_offset((16 * v + i) as isize * rs);
                                *x = _mm512_maskz_loadu_ps(pm, src.wrapping_add(p0));
                            }
                            let t = transpose16(&r);
                            for (q, x) in t.iter().enumerate().take(w) {
                                _mm512_storeu_ps(d.add((p0 + q) * mr + 16 * v), *x);
                            }
                            p0 += 16;
                        }
                    }
                } else {
                    for p in 0..kc {
                        for i in 0..mr {
                            *d.add(p * mr + i) = if i < h {
                                *s.offset(i as isize * rs + p as isize * cs)
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
            i0 += mr;
        }
    }

    /// Packs the `kc × cols` block of B at `b` (strides `rs`, `cs`) as panels of `NR` columns:
    /// panel `q` holds, for each `p`, columns `NR q ..` of row `p`, zero-padded.
    ///
    /// # Safety
    /// `b` addresses a valid `kc × cols` matrix; `dst` has room for the padded panels.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn pack_b<const NR: usize>(
        kc: usize,
        cols: usize,
        b: *const f32,
        rs: isize,
        cs: isize,
        dst: *mut f32,
    ) {
        let mut j0 = 0;
        while j0 < cols {
            let w = NR.min(cols - j0);
            // SAFETY: panel j0 / NR of dst; the source columns j0 .. j0 + w exist, and only
            // they are read (masked loads); the stores stay in the panel (masked stores).
            unsafe {
                let d = dst.add(j0 * kc);
                let s = b.wrapping_offset(j0 as isize * cs);
                if cs == 1 {
                    // rows contiguous
                    for p in 0..kc {
                        let sp = s.wrapping_offset(p as isize * rs);
                        let mut g = 0;
                        while g < NR {
                            let lanes = mask16(NR - g);
                            let x = _mm512_maskz_loadu_ps(
                                mask16(w.saturating_sub(g)),
                                sp.wrapping_add(g),
                            );
                            _mm512_mask_storeu_ps(d.add(p * NR + g), lanes, x);
                            g += 16;
                        }
                    }
                } else if rs == 1 {
                    // columns contiguous: 16 × 16 transposes
                    let mut g = 0;
                    while g < NR {
                        let lanes = mask16(NR - g);
                        let live = w.saturating_sub(g).min(16);
                        let mut p0 = 0;
                        while p0 < kc {
                            let h = 16.min(kc - p0);
                            let pm = mask16(h);
                            let mut r = [_mm512_setzero_ps(); 16];
                            for (j, x) in r.iter_mut().enumerate().take(live) {
                                let src = s.wrapping_offset((g + j) as isize * cs);
                                *x = _mm512_maskz_loadu_ps(pm, src.wrapping_add(p0));
                            }
                            let t = transpose16(&r);
                            for (q, x) in t.iter().enumerate().take(h) {
                                _mm512_mask_storeu_ps(d.add((p0 + q) * NR + g), lanes, *x);
                            }
                            p0 += 16;
                        }
                        g += 16;
                    }
                } else {
                    for p in 0..kc {
                        for j in 0..NR {
                            *d.add(p * NR + j) = if j < w {
                                *s.offset(p as isize * rs + j as isize * cs)
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
            j0 += NR;
        }
    }

    /// The mask of the first `r` (at most 16) lanes.
    #[inline]
    fn mask16(r: usize) -> __mmask16 {
        if r >= 16 {
            0xFFFF
        } else {
            ((1u32 << r) - 1) as __mmask16
        }
    }

    /// The operands of one tile: `kc` steps of an A panel (row `p` at `a + p lda`, rows
    /// contiguous) and a B panel (element `(p, j)` at `b + p rsb + j csb`); only the first
    /// `rows` rows of A (in place) and `cols` columns of B are read or stored.
    struct Panels {
        kc: usize,
        a: *const f32,
        lda: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        rows: usize,
        cols: usize,
    }

    /// The micro-kernel: `c = Σ_p a_p b_pᵀ + beta c` for a `16 MV × NR` tile, of which the
    /// first `rows × cols` are stored (column stride `ldc`, row stride 1). A packed panel
    /// (`DA` false) is read whole, rows `16 MV` apart; a packed B panel (`DB` false) has rows of
    /// `NR`. With `beta = 0`, c is not read.
    ///
    /// # Safety
    /// The panels are valid as [`Panels`] describes (packed ones hold whole tiles); `c`
    /// addresses `rows × cols` valid elements.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn micro<const MV: usize, const NR: usize, const DA: bool, const DB: bool>(
        k: &Panels,
        c: *mut f32,
        ldc: isize,
        beta: f32,
    ) {
        let masks: [__mmask16; MV] = std::array::from_fn(|v| {
            if DA {
                mask16(k.rows.saturating_sub(16 * v))
            } else {
                0xFFFF
            }
        });
        let bcol: [*const f32; NR] = std::array::from_fn(|j| {
            if DB {
                k.b.wrapping_offset(j.min(k.cols - 1) as isize * k.csb)
            } else {
                k.b.wrapping_add(j)
            }
        });
        let mut acc = [[_mm512_setzero_ps(); MV]; NR];
        let (mut a, mut off) = (k.a, 0isize);
        let (a_step, b_step) = (
            if DA { k.lda } else { 16 * MV as isize },
            if DB { k.rsb } else { NR as isize },
        );
        for _ in 0..k.kc {
            let mut av = [_mm512_setzero_ps(); MV];
            for (v, x) in av.iter_mut().enumerate() {
                // SAFETY: row p of the A panel: its first `rows` lanes in place (masked), all
                // of a packed one.
                *x = unsafe {
                    if DA {
                        _mm512_maskz_loadu_ps(masks[v], a.wrapping_add(16 * v))
                    } else {
                        _mm512_loadu_ps(a.add(16 * v))
                    }
                };
            }
            for (j, row) in acc.iter_mut().enumerate() {
                // SAFETY: element (p, min(j, cols - 1)) of the B panel.
                let bj = _mm512_set1_ps(unsafe { *bcol[j].offset(off) });
                for (x, s) in av.iter().zip(row.iter_mut()) {
                    *s = _mm512_fmadd_ps(*x, bj, *s);
                }
            }
            a = a.wrapping_offset(a_step);
            off += b_step;
        }
        let betav = _mm512_set1_ps(beta);
        let full = k.rows == 16 * MV;
        for (j, col) in acc.iter().enumerate().take(k.cols) {
            let cj = c.wrapping_offset(j as isize * ldc);
            for (v, s) in col.iter().enumerate() {
                let r = k.rows.saturating_sub(16 * v).min(16);
                if r == 0 {
                    break;
                }
                let ptr = cj.wrapping_add(16 * v);
                // SAFETY: the lanes stored (and loaded) are rows < `rows` of column j < `cols`.
                unsafe {
                    if full {
                        let x = if beta == 0.0 {
                            *s
                        } else {
                            _mm512_fmadd_ps(_mm512_loadu_ps(ptr), betav, *s)
                        };
                        _mm512_storeu_ps(ptr, x);
                    } else {
                        let mask = mask16(r);
                        let x = if beta == 0.0 {
                            *s
                        } else {
                            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, ptr), betav, *s)
                        };
                        _mm512_mask_storeu_ps(ptr, mask, x);
                    }
                }
            }
        }
    }
}
