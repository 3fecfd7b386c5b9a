//! Operations. Each form is one exported function selected by an operation code, so the whole
//! arithmetic and maths set is a handful of regular entry points.
//!
//! Every function writes a new handle to `*out` on success; the result keeps its inputs alive
//! as graph links when any input requires a gradient.

use super::handle::{self, ds_array};
use super::status::{boundary, ds_status, non_null, write_out};
use crate::core::{Error, Result, Tensor};
use crate::ops::arith::{self, BinaryOp};
use crate::ops::{linalg, reduce, unary};

/// Binary operation code for `ds_binary*`.
pub type ds_binary_op = i32;
/// `a + b`
pub const DS_ADD: ds_binary_op = 1;
/// `a - b`
pub const DS_SUB: ds_binary_op = 2;
/// `a * b`
pub const DS_MUL: ds_binary_op = 3;
/// `a / b`
pub const DS_DIV: ds_binary_op = 4;
/// `a ** b`
pub const DS_POW: ds_binary_op = 5;
/// `max(a, b)`
pub const DS_MAX: ds_binary_op = 6;

/// Unary operation code for `ds_unary`.
pub type ds_unary_op = i32;
/// `-a`
pub const DS_NEG: ds_unary_op = 101;
/// `exp(a)`
pub const DS_EXP: ds_unary_op = 102;
/// `log(a)` (natural)
pub const DS_LOG: ds_unary_op = 103;
/// `log10(a)`
pub const DS_LOG10: ds_unary_op = 104;
/// `sqrt(a)`
pub const DS_SQRT: ds_unary_op = 105;
/// `abs(a)`
pub const DS_ABS: ds_unary_op = 106;
/// `1 / (1 + exp(-a))`
pub const DS_SIGMOID: ds_unary_op = 107;
/// `sin(a)`
pub const DS_SIN: ds_unary_op = 108;
/// `cos(a)`
pub const DS_COS: ds_unary_op = 109;
/// `tan(a)`
pub const DS_TAN: ds_unary_op = 110;
/// `tanh(a)`
pub const DS_TANH: ds_unary_op = 111;
/// `asin(a)` (derivative `1 / sqrt(1 - a^2)`)
pub const DS_ASIN: ds_unary_op = 112;
/// `acos(a)`
pub const DS_ACOS: ds_unary_op = 113;
/// `atan(a)`
pub const DS_ATAN: ds_unary_op = 114;
/// `sinh(a)`
pub const DS_SINH: ds_unary_op = 115;
/// `cosh(a)`
pub const DS_COSH: ds_unary_op = 116;

fn binary_op(op: ds_binary_op) -> Result<BinaryOp> {
    Ok(match op {
        DS_ADD => BinaryOp::Add,
        DS_SUB => BinaryOp::Sub,
        DS_MUL => BinaryOp::Mul,
        DS_DIV => BinaryOp::Div,
        DS_POW => BinaryOp::Pow,
        DS_MAX => BinaryOp::Max,
        _ => {
            return Err(Error::argument(format!(
                "unknown binary operation code {op}"
            )))
        }
    })
}

fn unary_op(op: ds_unary_op) -> Result<unary::UnaryOp> {
    use unary::UnaryOp as U;
    Ok(match op {
        DS_NEG => U::Neg,
        DS_EXP => U::Exp,
        DS_LOG => U::Log,
        DS_LOG10 => U::Log10,
        DS_SQRT => U::Sqrt,
        DS_ABS => U::Abs,
        DS_SIGMOID => U::Sigmoid,
        DS_SIN => U::Sin,
        DS_COS => U::Cos,
        DS_TAN => U::Tan,
        DS_TANH => U::Tanh,
        DS_ASIN => U::Asin,
        DS_ACOS => U::Acos,
        DS_ATAN => U::Atan,
        DS_SINH => U::Sinh,
        DS_COSH => U::Cosh,
        _ => {
            return Err(Error::argument(format!(
                "unknown unary operation code {op}"
            )))
        }
    })
}

/// Runs an operation on looked-up handles and returns the result as a new handle.
pub(crate) fn emit(out: *mut *mut ds_array, f: impl FnOnce() -> Result<Tensor>) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let t = f()?;
        write_out(out, handle::insert(t), "out")
    })
}

pub(crate) fn slice<'a>(p: *const f32, len: usize, what: &str) -> Result<&'a [f32]> {
    non_null(p, what)?;
    // SAFETY: non-null checked; the caller provides `len` readable values.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `op(a)` element-wise, `op` one of `DS_NEG`, `DS_EXP`, … `DS_TANH`, `DS_ASIN` … `DS_COSH`.
#[no_mangle]
pub extern "C" fn ds_unary(
    op: ds_unary_op,
    a: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || unary::unary(unary_op(op)?, &handle::get(a, "a")?))
}

/// `a op b` for two arrays, broadcasting: each storage extent (E and S) must be equal, or 1 on
/// one side (a per-sample scalar, or one sample shared by the batch).
#[no_mangle]
pub extern "C" fn ds_binary(
    op: ds_binary_op,
    a: *const ds_array,
    b: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        arith::binary(binary_op(op)?, &handle::get(a, "a")?, &handle::get(b, "b")?)
    })
}

/// `a op s` with a real scalar on the right.
#[no_mangle]
pub extern "C" fn ds_binary_scalar(
    op: ds_binary_op,
    a: *const ds_array,
    s: f32,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        arith::binary_scalar(binary_op(op)?, &handle::get(a, "a")?, s)
    })
}

/// `s op a` with a real scalar on the left.
#[no_mangle]
pub extern "C" fn ds_scalar_binary(
    op: ds_binary_op,
    s: f32,
    a: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        arith::scalar_binary(binary_op(op)?, s, &handle::get(a, "a")?)
    })
}

/// `a op v` with a real vector, with diffstruc's meanings: `DS_ADD` adds a per-element vector
/// (`len` = E) to every sample; `DS_SUB` and `DS_DIV` apply a per-sample value (`len` = S).
/// `v + a` is the same as `a + v`.
#[no_mangle]
pub extern "C" fn ds_binary_real1d(
    op: ds_binary_op,
    a: *const ds_array,
    v: *const f32,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        arith::binary_real1d(binary_op(op)?, &handle::get(a, "a")?, slice(v, len, "v")?)
    })
}

/// `a op m` with a real `rows x cols` column-major matrix equal to `a`'s extents `(E, S)`:
/// `DS_ADD`, `DS_SUB`, `DS_MUL`.
#[no_mangle]
pub extern "C" fn ds_binary_real2d(
    op: ds_binary_op,
    a: *const ds_array,
    m: *const f32,
    rows: usize,
    cols: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let m = slice(m, rows.saturating_mul(cols), "m")?;
        arith::binary_real2d(binary_op(op)?, &handle::get(a, "a")?, m, rows, cols)
    })
}

/// `m op a` with a real matrix on the left: `DS_ADD`, `DS_MUL`.
#[no_mangle]
pub extern "C" fn ds_real2d_binary(
    op: ds_binary_op,
    m: *const f32,
    rows: usize,
    cols: usize,
    a: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let m = slice(m, rows.saturating_mul(cols), "m")?;
        arith::real2d_binary(binary_op(op)?, m, rows, cols, &handle::get(a, "a")?)
    })
}

/// `gaussian(a, mu, sigma) = exp(-((a-mu)/sigma)^2/2) / (sqrt(2 pi) sigma)`.
#[no_mangle]
pub extern "C" fn ds_gaussian(
    a: *const ds_array,
    mu: f32,
    sigma: f32,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || unary::gaussian(&handle::get(a, "a")?, mu, sigma))
}

/// `sign(s, a)`: `|s|` with the sign of each element, as a new array with no graph (not
/// differentiable).
#[no_mangle]
pub extern "C" fn ds_sign(s: f32, a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    emit(out, || {
        let a = handle::get(a, "a")?;
        crate::core::alloc::guard_op("sign", &[&a], || Ok(arith::sign(s, &a)))
    })
}

/// `sum(a, dim)`: `dim` 1 sums the elements of each sample (result `[1]`, same batch); `dim` 2
/// sums over the batch (result keeps the shape, one sample, not sample-dependent).
#[no_mangle]
pub extern "C" fn ds_sum(a: *const ds_array, dim: i32, out: *mut *mut ds_array) -> ds_status {
    emit(out, || reduce::sum(&handle::get(a, "a")?, dim.into()))
}

/// `mean(a, dim)`: as `ds_sum`, divided by the number of values added.
#[no_mangle]
pub extern "C" fn ds_mean(a: *const ds_array, dim: i32, out: *mut *mut ds_array) -> ds_status {
    emit(out, || reduce::mean(&handle::get(a, "a")?, dim.into()))
}

/// `sum(a)`: the total of every value (result `[1]`, one sample).
#[no_mangle]
pub extern "C" fn ds_sum_all(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    emit(out, || reduce::sum_all(&handle::get(a, "a")?))
}

/// `mean(a)`: the mean of every value (result `[1]`, one sample).
#[no_mangle]
pub extern "C" fn ds_mean_all(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    emit(out, || reduce::mean_all(&handle::get(a, "a")?))
}

/// `matmul(a, b)` (`.mmul.`): per sample `C_s = A_s · B_s`, an operand with one sample being
/// shared by the batch. A rank-2 operand `[m, k]` is a matrix; a rank-1 left operand is a row,
/// a rank-1 right operand a column: `W · x` gives `[m]`, `x · W` gives `[n]`, two matrices
/// `[m, n]`.
#[no_mangle]
pub extern "C" fn ds_matmul(
    a: *const ds_array,
    b: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        linalg::matmul(&handle::get(a, "a")?, &handle::get(b, "b")?)
    })
}

/// `matmul(a, m)`: each sample of `a`, read as a flat vector of length `rows`, times the real
/// `rows x cols` column-major matrix `m`; result `[cols]`.
#[no_mangle]
pub extern "C" fn ds_matmul_real2d(
    a: *const ds_array,
    m: *const f32,
    rows: usize,
    cols: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let m = slice(m, rows.saturating_mul(cols), "m")?;
        linalg::matmul_real2d(&handle::get(a, "a")?, m, rows, cols)
    })
}

/// `matmul(m, b)`: the real `rows x cols` column-major matrix `m` times each sample of `b`,
/// read as a flat vector of length `cols`; result `[rows]`.
#[no_mangle]
pub extern "C" fn ds_real2d_matmul(
    m: *const f32,
    rows: usize,
    cols: usize,
    b: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let m = slice(m, rows.saturating_mul(cols), "m")?;
        linalg::real2d_matmul(m, rows, cols, &handle::get(b, "b")?)
    })
}

/// `dot_product(a, b)` (`.dot.`): per sample, the sum of `a * b` over two vectors; result `[1]`.
#[no_mangle]
pub extern "C" fn ds_dot_product(
    a: *const ds_array,
    b: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        linalg::dot_product(&handle::get(a, "a")?, &handle::get(b, "b")?)
    })
}

/// `outer_product(a, b)` (`.outer.`): per sample `c(i, j) = a(i) b(j)`; result `[Ea, Eb]`.
#[no_mangle]
pub extern "C" fn ds_outer_product(
    a: *const ds_array,
    b: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        linalg::outer_product(&handle::get(a, "a")?, &handle::get(b, "b")?)
    })
}

/// `transpose(a)`: per sample `[m, n] -> [n, m]`.
#[no_mangle]
pub extern "C" fn ds_transpose(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    emit(out, || linalg::transpose(&handle::get(a, "a")?))
}
