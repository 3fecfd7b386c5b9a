//! Linear algebra: `matmul` (`.mmul.`) in all its forms, `dot_product`, `outer_product` and
//! `transpose`.
//!
//! Every product is taken per sample: `C_s = A_s · B_s`, where an operand with a single sample
//! (a weight, `is_sample_dependent = .false.`) is the same matrix for every sample. Operands are
//! read as matrices from their per-sample shape: a rank-2 shape `[m, k]` is an `m × k` matrix;
//! a rank-1 left operand is a row (`1 × k`), a rank-1 right operand a column (`k × 1`). So
//! `W · x` (weight matrix times a batch of vectors) gives `[m]`, `x · W` gives `[n]`, and two
//! per-sample matrices give the per-sample product `[m, n]` (diffstruc stops on that case).
//!
//! Products are computed by [`Real::gemm`] (for `f32`, [`crate::ops::gemm`]); the usual layouts
//! (a shared matrix times a batch of vectors, and the gradient of that matrix) are a single GEMM
//! over the whole batch.

use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};

use super::{describe, Operation};
use crate::core::alloc;
use crate::core::small::Inputs;
use crate::core::{pool, Error, Flags, Grad, OpRef, Real, Result, Tensor};

/// One operand of a batched product: `rows × cols` per sample, column-major, possibly shared
/// by every sample (`shared`), possibly used transposed (`t`).
#[derive(Clone, Copy)]
struct Side<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    shared: bool,
    t: bool,
}

impl<'a, T: Real> Side<'a, T> {
    fn sample(&self, s: usize) -> ArrayView2<'a, T> {
        let len = self.rows * self.cols;
        let s = if self.shared { 0 } else { s };
        let v = ArrayView2::from_shape((self.rows, self.cols).f(), &self.data[s * len..][..len])
            .expect("extents checked by the caller");
        if self.t {
            v.reversed_axes()
        } else {
            v
        }
    }
    /// Rows and columns as used (after the optional transpose).
    fn used(&self) -> (usize, usize) {
        if self.t {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }
    /// Every sample's (vector) values side by side: `rows*cols × batch`.
    fn stacked(&self, batch: usize) -> ArrayView2<'a, T> {
        let len = self.rows * self.cols;
        ArrayView2::from_shape((len, batch).f(), &self.data[..len * batch])
            .expect("extents checked by the caller")
    }
}

/// `c = a · b + beta c`, the columns of `c` split across the library's threads when the product
/// is large (see [`crate::core::threads`]); each column is computed as with one thread (the
/// kernel's sums do not depend on which columns are computed together, see
/// [`crate::ops::gemm`]).
fn gemm<T: Real>(
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
) {
    /// Products of at least this many multiply-adds may use more than one thread.
    const PARALLEL_MIN: usize = 1 << 20;
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let work = m.saturating_mul(k).saturating_mul(n);
    if n < 2 || work < PARALLEL_MIN || crate::core::num_threads() == 1 {
        product_or_raise(a, b, beta, c);
        return;
    }
    let c_cell = SharedView(c.view_mut());
    crate::core::threads::for_chunks(n, 2, 16, |start, end| {
        // SAFETY: the chunks are disjoint column ranges of `c`.
        let mut part = unsafe { c_cell.columns(start, end) };
        product_or_raise(a, &b.slice(ndarray::s![.., start..end]), beta, &mut part);
    });
}

/// [`Real::gemm`]; its error (extents that do not match, which the callers here rule out) is
/// raised to the operation's [`alloc::guard`], which returns it.
fn product_or_raise<T: Real>(
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
) {
    if let Err(e) = T::gemm(a, b, beta, c) {
        std::panic::resume_unwind(Box::new(e));
    }
}

/// A result matrix whose disjoint column ranges are written by different threads.
struct SharedView<'a, T>(ArrayViewMut2<'a, T>);
// SAFETY: see `columns`: each thread writes its own columns only.
unsafe impl<T: Real> Send for SharedView<'_, T> {}
unsafe impl<T: Real> Sync for SharedView<'_, T> {}

impl<T: Real> SharedView<'_, T> {
    /// The columns `start..end`.
    ///
    /// # Safety
    /// Column ranges in use at the same time must be disjoint.
    unsafe fn columns(&self, start: usize, end: usize) -> ArrayViewMut2<'_, T> {
        let v = &self.0;
        let (rows, rs, cs) = (v.nrows(), v.strides()[0], v.strides()[1]);
        // SAFETY: in bounds of the view (start <= end <= ncols); disjointness from the caller.
        unsafe {
            let ptr = v.as_ptr().cast_mut().offset(start as isize * cs);
            ArrayViewMut2::from_shape_ptr(
                (rows, end - start).strides((rs as usize, cs as usize)),
                ptr,
            )
        }
    }
}

/// `C_s = op(A_s) · op(B_s)` for `s < batch`, or, with `sum`, the single matrix
/// `Σ_s op(A_s) · op(B_s)`. Returns the result column-major, sample after sample.
fn batched_product<T: Real>(a: Side<'_, T>, b: Side<'_, T>, batch: usize, sum: bool) -> Vec<T> {
    let ((m, _), (_, n)) = (a.used(), b.used());
    let out_batch = if sum { 1 } else { batch };
    let mut out = pool::filled(m * n * out_batch, T::ZERO);
    let column = |x: &Side<'_, T>| x.used().1 == 1;
    let row = |x: &Side<'_, T>| x.used().0 == 1;
    if !sum && a.shared && !b.shared && column(&b) && batch > 1 {
        // shared matrix times a batch of columns: one (m × k) · (k × batch) product
        let mut c = ArrayViewMut2::from_shape((m, batch).f(), &mut out[..]).expect("sized");
        gemm(&a.sample(0), &b.stacked(batch), T::ZERO, &mut c);
    } else if !sum && b.shared && !a.shared && row(&a) && batch > 1 {
        // a batch of rows times a shared matrix: (n × k) · (k × batch)
        let mut c = ArrayViewMut2::from_shape((n, batch).f(), &mut out[..]).expect("sized");
        gemm(&b.sample(0).t(), &a.stacked(batch), T::ZERO, &mut c);
    } else if sum && !a.shared && !b.shared && column(&a) && row(&b) {
        // Σ_s a_s b_sᵀ over the batch (a weight's gradient): (m × batch) · (batch × n)
        let mut c = ArrayViewMut2::from_shape((m, n).f(), &mut out[..]).expect("sized");
        gemm(&a.stacked(batch), &b.stacked(batch).t(), T::ZERO, &mut c);
    } else {
        for s in 0..batch {
            let o = if sum { 0 } else { s * m * n };
            let beta = if sum && s > 0 { T::ONE } else { T::ZERO };
            let mut c =
                ArrayViewMut2::from_shape((m, n).f(), &mut out[o..o + m * n]).expect("sized");
            gemm(&a.sample(s), &b.sample(s), beta, &mut c);
        }
    }
    out
}

/// Product rule of a bilinear operation `f`: `f(dA, B) + f(A, dB)`.
fn bilinear_jvp<T: Real>(
    x: &[Tensor<T>],
    t: &[Option<Tensor<T>>],
    f: impl Fn(&Tensor<T>, &Tensor<T>) -> Result<Tensor<T>>,
) -> Result<Option<Tensor<T>>> {
    let left = t[0].as_ref().map(|ta| f(ta, &x[1])).transpose()?;
    let right = t[1].as_ref().map(|tb| f(&x[0], tb)).transpose()?;
    super::sum_tangents(left, right)
}

/// How the operands of a product are read, fixed when the product is built.
#[derive(Clone, Copy, Debug)]
struct Plan {
    m: usize,
    k: usize,
    n: usize,
    /// per-sample shape of the result: `[m]`, `[n]` or `[m, n]`
    rank: u8,
}

/// Reads `a · b` as matrices. `a_flat` / `b_flat` read that operand as a flat vector whatever
/// its shape (diffstruc's array × real-matrix forms).
fn plan<T: Real>(
    name: &str,
    a: &Tensor<T>,
    b: &Tensor<T>,
    a_flat: bool,
    b_flat: bool,
) -> Result<Plan> {
    let bad = |why: &str| {
        Error::shape(format!(
            "{name}: cannot multiply {} by {}: {why}",
            describe(a),
            describe(b)
        ))
    };
    let dims = |t: &Tensor<T>, flat: bool| -> Result<(bool, usize, usize)> {
        match (flat, t.shape()) {
            (true, _) | (false, [_]) => Ok((true, t.elems(), 1)),
            (false, [r, c]) => Ok((false, *r, *c)),
            _ => Err(bad("operands must have rank 1 or 2")),
        }
    };
    let (a_vec, ar, ac) = dims(a, a_flat)?;
    let (b_vec, br, bc) = dims(b, b_flat)?;
    // a rank-1 left operand is a row, a rank-1 right operand a column
    let (m, k) = if a_vec { (1, ar) } else { (ar, ac) };
    let (k2, n) = (br, bc);
    if a_vec && b_vec {
        return Err(bad("both are vectors (use dot_product or outer_product)"));
    }
    if k != k2 {
        return Err(bad(&format!("inner extents {k} and {k2} differ")));
    }
    if a.batch() != b.batch() && a.batch() != 1 && b.batch() != 1 {
        return Err(bad("batch sizes differ"));
    }
    let rank = match (a_vec, b_vec) {
        (true, _) => 1, // [n]
        (_, true) => 0, // [m]
        _ => 2,         // [m, n]
    };
    Ok(Plan { m, k, n, rank })
}

impl Plan {
    fn shape(&self) -> Vec<usize> {
        match self.rank {
            0 => vec![self.m],
            1 => vec![self.n],
            _ => vec![self.m, self.n],
        }
    }
}

struct MatMul {
    plan: Plan,
    name: &'static str,
}

fn product<T: Real>(
    plan: Plan,
    name: &'static str,
    a: &Tensor<T>,
    b: &Tensor<T>,
) -> Result<Tensor<T>> {
    let batch = a.batch().max(b.batch());
    let data = alloc::guard_op(name, &[a, b], || {
        alloc::checked_len(|| name.to_string(), &[plan.m, plan.n, batch])?;
        let (va, vb) = (a.values(), b.values());
        let sa = Side {
            data: &va,
            rows: plan.m,
            cols: plan.k,
            shared: a.batch() == 1,
            t: false,
        };
        let sb = Side {
            data: &vb,
            rows: plan.k,
            cols: plan.n,
            shared: b.batch() == 1,
            t: false,
        };
        Ok(batched_product(sa, sb, batch, false))
    })?;
    let flags = Flags {
        sample_dependent: a.is_sample_dependent() || b.is_sample_dependent(),
        scalar: false,
    };
    Ok(Tensor::from_op(
        &plan.shape(),
        batch,
        data,
        flags,
        OpRef::Shared(std::sync::Arc::new(MatMul { plan, name })),
        Inputs::two(a.clone(), b.clone()),
    ))
}

impl<T: Real> Operation<T> for MatMul {
    fn name(&self) -> &str {
        self.name
    }
    /// The other operand.
    fn saved_for(&self, input: usize) -> u64 {
        if input == 0 {
            2
        } else {
            1
        }
    }
    /// `d(A·B) = dA·B + A·dB`, with the same reading of the operands.
    fn jvp(
        &self,
        _: &Tensor<T>,
        x: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        bilinear_jvp(x, t, |a, b| product(self.plan, "matmul", a, b))
    }
    /// `dA_s = G_s · B_sᵀ`, `dB_s = A_sᵀ · G_s`, summed over the batch for a shared operand.
    fn vjp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        wants: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        let Plan { m, k, n, .. } = self.plan;
        let (a, b) = (&x[0], &x[1]);
        let batch = out.batch();
        let (va, vb) = (a.values(), b.values());
        let sg = Side {
            data: g.as_slice(),
            rows: m,
            cols: n,
            shared: false,
            t: false,
        };
        let sa = Side {
            data: &va,
            rows: m,
            cols: k,
            shared: a.batch() == 1,
            t: false,
        };
        let sb = Side {
            data: &vb,
            rows: k,
            cols: n,
            shared: b.batch() == 1,
            t: false,
        };
        let ga = wants[0].then(|| {
            let sum = a.batch() == 1 && batch > 1;
            let data = batched_product(sg, Side { t: true, ..sb }, batch, sum);
            Grad::new(data, a.dims())
        });
        let gb = wants[1].then(|| {
            let sum = b.batch() == 1 && batch > 1;
            let data = batched_product(Side { t: true, ..sa }, sg, batch, sum);
            Grad::new(data, b.dims())
        });
        Ok(vec![ga, gb])
    }
}

/// `matmul(a, b)` / `a .mmul. b` of two arrays (`matmul`).
pub fn matmul<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    product(plan("matmul", a, b, false, false)?, "matmul", a, b)
}

/// `matmul(a, m)` with a real `rows × cols` matrix: each sample of `a`, read as a flat vector of
/// length `rows`, times the matrix; result `[cols]` (`matmul_scalar`).
pub fn matmul_real2d<T: Real>(
    a: &Tensor<T>,
    m: &[T],
    rows: usize,
    cols: usize,
) -> Result<Tensor<T>> {
    let c = real_matrix("matmul_scalar", m, rows, cols)?;
    product(
        plan("matmul_scalar", a, &c, true, false)?,
        "matmul_scalar",
        a,
        &c,
    )
}

/// `matmul(m, b)` with a real `rows × cols` matrix times each sample of `b`, read as a flat
/// vector of length `cols`; result `[rows]` (`matmul_scalar`).
pub fn real2d_matmul<T: Real>(
    m: &[T],
    rows: usize,
    cols: usize,
    b: &Tensor<T>,
) -> Result<Tensor<T>> {
    let c = real_matrix("matmul_scalar", m, rows, cols)?;
    product(
        plan("matmul_scalar", &c, b, false, true)?,
        "matmul_scalar",
        &c,
        b,
    )
}

fn real_matrix<T: Real>(name: &str, m: &[T], rows: usize, cols: usize) -> Result<Tensor<T>> {
    if rows == 0 || cols == 0 || Some(m.len()) != rows.checked_mul(cols) {
        return Err(Error::shape(format!(
            "{name}: the real matrix is {rows}x{cols} but holds {} values",
            m.len()
        )));
    }
    let data = alloc::guard(
        || format!("{name}: a {rows}x{cols} real matrix"),
        || Ok(pool::copy(m)),
    )?;
    Ok(Tensor::constant(&[rows, cols], 1, data, false, false))
}

// ---- dot and outer products --------------------------------------------------------------------

/// Which of the two vector products.
#[derive(Clone, Copy, PartialEq, Eq)]
enum VecProduct {
    Dot,
    Outer,
}

struct Vector(VecProduct);

static DOT: Vector = Vector(VecProduct::Dot);
static OUTER: Vector = Vector(VecProduct::Outer);

fn vector_product<T: Real>(kind: VecProduct, a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    let name = if kind == VecProduct::Dot {
        "dot_product"
    } else {
        "outer_product"
    };
    if a.shape().len() != 1 || b.shape().len() != 1 {
        return Err(Error::shape(format!(
            "{name}: both operands must be vectors (rank 1), got {} and {}",
            describe(a),
            describe(b)
        )));
    }
    if kind == VecProduct::Dot && a.elems() != b.elems() {
        return Err(Error::shape(format!(
            "{name}: vector lengths differ: {} and {}",
            describe(a),
            describe(b)
        )));
    }
    if a.batch() != b.batch() && a.batch() != 1 && b.batch() != 1 {
        return Err(Error::shape(format!(
            "{name}: batch sizes differ: {} and {}",
            describe(a),
            describe(b)
        )));
    }
    let (ea, eb) = (a.elems(), b.elems());
    let batch = a.batch().max(b.batch());
    let data = alloc::guard_op(name, &[a, b], || {
        let (va, vb) = (a.values(), b.values());
        let col = |v: &'_ [T], e: usize, shared: bool, s: usize| -> Vec<T> {
            let s = if shared { 0 } else { s };
            pool::copy(&v[s * e..(s + 1) * e])
        };
        let len = if kind == VecProduct::Dot {
            batch
        } else {
            alloc::checked_len(|| name.to_string(), &[ea, eb, batch])?
        };
        let mut out = pool::with_capacity(len);
        for s in 0..batch {
            let (x, y) = (
                col(&va, ea, a.batch() == 1, s),
                col(&vb, eb, b.batch() == 1, s),
            );
            match kind {
                VecProduct::Dot => {
                    out.push(x.iter().zip(&y).fold(T::ZERO, |acc, (p, q)| acc + *p * *q))
                }
                VecProduct::Outer => {
                    for &q in &y {
                        out.extend(x.iter().map(|&p| p * q));
                    }
                }
            }
        }
        Ok(out)
    })?;
    let shape = if kind == VecProduct::Dot {
        vec![1]
    } else {
        vec![ea, eb]
    };
    let flags = Flags {
        sample_dependent: a.is_sample_dependent() || b.is_sample_dependent(),
        scalar: false,
    };
    let op = if kind == VecProduct::Dot {
        &DOT
    } else {
        &OUTER
    };
    Ok(Tensor::from_op(
        &shape,
        batch,
        data,
        flags,
        OpRef::Static(op),
        Inputs::two(a.clone(), b.clone()),
    ))
}

impl<T: Real> Operation<T> for Vector {
    fn name(&self) -> &str {
        if self.0 == VecProduct::Dot {
            "dot_product"
        } else {
            "outer_product"
        }
    }
    /// The other operand.
    fn saved_for(&self, input: usize) -> u64 {
        if input == 0 {
            2
        } else {
            1
        }
    }
    fn jvp(
        &self,
        _: &Tensor<T>,
        x: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        bilinear_jvp(x, t, |a, b| vector_product(self.0, a, b))
    }
    /// dot: `da_s = g_s b_s`, `db_s = g_s a_s`; outer: `da_s = G_s b_s`, `db_s = G_sᵀ a_s`.
    fn vjp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        wants: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        let (a, b) = (&x[0], &x[1]);
        let (ea, eb, batch) = (a.elems(), b.elems(), out.batch());
        let (va, vb) = (a.values(), b.values());
        // as batched products: dot is (1×e)·(e×1), outer is (ea×1)·(1×eb)
        let (gr, gc) = if self.0 == VecProduct::Dot {
            (1, 1)
        } else {
            (ea, eb)
        };
        let sg = Side {
            data: g.as_slice(),
            rows: gr,
            cols: gc,
            shared: false,
            t: false,
        };
        // each operand as a column per sample
        let column = |data, rows, shared| Side {
            data,
            rows,
            cols: 1,
            shared,
            t: false,
        };
        let (sa, sb) = (
            column(&va[..], ea, a.batch() == 1),
            column(&vb[..], eb, b.batch() == 1),
        );
        let ga = wants[0].then(|| {
            let sum = a.batch() == 1 && batch > 1;
            let data = match self.0 {
                // da_s (e×1) = b_s (e×1) · g_s (1×1)
                VecProduct::Dot => batched_product(sb, sg, batch, sum),
                // da_s (ea×1) = G_s (ea×eb) · b_s (eb×1)
                VecProduct::Outer => batched_product(sg, sb, batch, sum),
            };
            Grad::new(data, a.dims())
        });
        let gb = wants[1].then(|| {
            let sum = b.batch() == 1 && batch > 1;
            let data = match self.0 {
                VecProduct::Dot => batched_product(sa, sg, batch, sum),
                // db_s (eb×1) = G_sᵀ (eb×ea) · a_s (ea×1)
                VecProduct::Outer => batched_product(Side { t: true, ..sg }, sa, batch, sum),
            };
            Grad::new(data, b.dims())
        });
        Ok(vec![ga, gb])
    }
}

/// `dot_product(a, b)` / `a .dot. b`: per sample, the sum of `a * b`; result `[1]`.
pub fn dot_product<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    vector_product(VecProduct::Dot, a, b)
}

/// `outer_product(a, b)` / `a .outer. b`: per sample, `c(i, j) = a(i) b(j)`; result `[Ea, Eb]`.
pub fn outer_product<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    vector_product(VecProduct::Outer, a, b)
}

// ---- transpose ---------------------------------------------------------------------------------

struct Transpose;

/// `transpose(a)`: per sample, `[m, n] -> [n, m]`.
pub fn transpose<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    let [m, n] = a.shape() else {
        return Err(Error::shape(format!(
            "transpose: only rank-2 arrays can be transposed, got {}",
            describe(a)
        )));
    };
    let (m, n) = (*m, *n);
    let data = alloc::guard_op("transpose", &[a], || {
        let v = a.values();
        let mut out = pool::with_capacity(v.len());
        for s in 0..a.batch() {
            let x = &v[s * m * n..(s + 1) * m * n];
            for i in 0..m {
                out.extend((0..n).map(|j| x[i + j * m]));
            }
        }
        Ok(out)
    })?;
    Ok(Tensor::from_op(
        &[n, m],
        a.batch(),
        data,
        a.flags(),
        OpRef::Static(&Transpose),
        Inputs::one(a.clone()),
    ))
}

impl<T: Real> Operation<T> for Transpose {
    fn name(&self) -> &str {
        "transpose"
    }
    fn saved_for(&self, _: usize) -> u64 {
        0
    }
    fn jvp(
        &self,
        _: &Tensor<T>,
        _: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        t[0].as_ref().map(transpose).transpose()
    }
    fn vjp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        _: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        // the gradient of a transpose is the transpose of the gradient
        let [n, m] = out.shape() else {
            return Err(Error::new(
                crate::core::ErrorKind::Internal,
                "transpose: bad shape",
            ));
        };
        let (m, n) = (*m, *n);
        let gs = g.as_slice();
        let mut data = pool::with_capacity(gs.len());
        for s in 0..out.batch() {
            let y = &gs[s * m * n..(s + 1) * m * n];
            for j in 0..n {
                data.extend((0..m).map(|i| y[j + i * n]));
            }
        }
        Ok(vec![Some(Grad::new(data, x[0].dims()))])
    }
}
