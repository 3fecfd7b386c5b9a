//! Operations. Each form is one exported function selected by an operation code, so the whole
//! arithmetic and maths set is a handful of regular entry points.
//!
//! Every function writes a new handle to `*out` on success; the result keeps its inputs alive
//! as graph links when any input requires a gradient.

use super::any::{map, map2, Array, Elem};
use super::handle::{self, ds_array};
use super::status::{boundary, ds_status, non_null, write_out};
use crate::core::{Error, Real, Result};
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
pub(crate) fn emit(out: *mut *mut ds_array, f: impl FnOnce() -> Result<Array>) -> ds_status {
    boundary(|| {
        non_null(out, "out")?;
        let t = f()?;
        write_out(out, handle::insert(t), "out")
    })
}

pub(crate) fn slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T]> {
    non_null(p, what)?;
    // SAFETY: non-null checked; the caller provides `len` readable values.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A C `double` scalar as the array's element type (exact for `double`; rounded once to
/// `float`, which gives a `float` argument back unchanged).
pub(crate) fn scalar<T: Real>(s: f64) -> T {
    T::from_f64(s)
}

/// `op(a)` element-wise, `op` one of `DS_NEG`, `DS_EXP`, … `DS_TANH`, `DS_ASIN` … `DS_COSH`.
#[no_mangle]
pub extern "C" fn ds_unary(
    op: ds_unary_op,
    a: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let op = unary_op(op)?;
        Ok(map!(handle::get(a, "a")?, t => unary::unary(op, &t)?))
    })
}

/// `a op b` for two arrays of one element type, broadcasting: each storage extent (E and S)
/// must be equal, or 1 on one side (a per-sample scalar, or one sample shared by the batch).
#[no_mangle]
pub extern "C" fn ds_binary(
    op: ds_binary_op,
    a: *const ds_array,
    b: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let op = binary_op(op)?;
        let (a, b) = (handle::get(a, "a")?, handle::get(b, "b")?);
        Ok(map2!(op.name(), a, b, (x, y) => arith::binary(op, &x, &y)?))
    })
}

/// `a op s` with a real scalar on the right (rounded to the array's type).
#[no_mangle]
pub extern "C" fn ds_binary_scalar(
    op: ds_binary_op,
    a: *const ds_array,
    s: f64,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let op = binary_op(op)?;
        Ok(map!(handle::get(a, "a")?, t => arith::binary_scalar(op, &t, scalar(s))?))
    })
}

/// `s op a` with a real scalar on the left (rounded to the array's type).
#[no_mangle]
pub extern "C" fn ds_scalar_binary(
    op: ds_binary_op,
    s: f64,
    a: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let op = binary_op(op)?;
        Ok(map!(handle::get(a, "a")?, t => arith::scalar_binary(op, scalar(s), &t)?))
    })
}

fn binary_real1d<T: Elem>(
    op: ds_binary_op,
    a: *const ds_array,
    v: *const T,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let op = binary_op(op)?;
        let a = handle::get(a, "a")?;
        let a = a.typed::<T>("ds_binary_real1d")?;
        Ok(T::wrap(arith::binary_real1d(op, a, slice(v, len, "v")?)?))
    })
}

/// `a op v` with a real vector, with diffstruc's meanings: `DS_ADD` adds a per-element vector
/// (`len` = E) to every sample; `DS_SUB` and `DS_DIV` apply a per-sample value (`len` = S).
/// `v + a` is the same as `a + v`. `a` holds `float` values (`_f64`: `double`).
#[no_mangle]
pub extern "C" fn ds_binary_real1d(
    op: ds_binary_op,
    a: *const ds_array,
    v: *const f32,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    binary_real1d(op, a, v, len, out)
}

/// `ds_binary_real1d` for a `double` array and vector.
#[no_mangle]
pub extern "C" fn ds_binary_real1d_f64(
    op: ds_binary_op,
    a: *const ds_array,
    v: *const f64,
    len: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    binary_real1d(op, a, v, len, out)
}

fn binary_real2d<T: Elem>(
    op: ds_binary_op,
    left: bool,
    a: *const ds_array,
    m: *const T,
    rows: usize,
    cols: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let op = binary_op(op)?;
        let m = slice(m, rows.saturating_mul(cols), "m")?;
        let a = handle::get(a, "a")?;
        let what = if left {
            "ds_real2d_binary"
        } else {
            "ds_binary_real2d"
        };
        let a = a.typed::<T>(what)?;
        Ok(T::wrap(if left {
            arith::real2d_binary(op, m, rows, cols, a)?
        } else {
            arith::binary_real2d(op, a, m, rows, cols)?
        }))
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
    binary_real2d(op, false, a, m, rows, cols, out)
}

/// `ds_binary_real2d` for a `double` array and matrix.
#[no_mangle]
pub extern "C" fn ds_binary_real2d_f64(
    op: ds_binary_op,
    a: *const ds_array,
    m: *const f64,
    rows: usize,
    cols: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    binary_real2d(op, false, a, m, rows, cols, out)
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
    binary_real2d(op, true, a, m, rows, cols, out)
}

/// `ds_real2d_binary` for a `double` matrix and array.
#[no_mangle]
pub extern "C" fn ds_real2d_binary_f64(
    op: ds_binary_op,
    m: *const f64,
    rows: usize,
    cols: usize,
    a: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    binary_real2d(op, true, a, m, rows, cols, out)
}

/// `gaussian(a, mu, sigma) = exp(-((a-mu)/sigma)^2/2) / (sqrt(2 pi) sigma)` (`mu` and `sigma`
/// rounded to the array's type).
#[no_mangle]
pub extern "C" fn ds_gaussian(
    a: *const ds_array,
    mu: f64,
    sigma: f64,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        Ok(map!(handle::get(a, "a")?, t => unary::gaussian(&t, scalar(mu), scalar(sigma))?))
    })
}

/// `sign(s, a)`: `|s|` with the sign of each element, as a new array with no graph (not
/// differentiable).
#[no_mangle]
pub extern "C" fn ds_sign(s: f64, a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    emit(out, || {
        let a = handle::get(a, "a")?;
        Ok(
            map!(a, t => crate::core::alloc::guard_op("sign", &[&t], || Ok(arith::sign(scalar(s), &t)))?),
        )
    })
}

/// `sum(a, dim)`: `dim` 1 sums the elements of each sample (result `[1]`, same batch); `dim` 2
/// sums over the batch (result keeps the shape, one sample, not sample-dependent).
#[no_mangle]
pub extern "C" fn ds_sum(a: *const ds_array, dim: i32, out: *mut *mut ds_array) -> ds_status {
    emit(out, || {
        Ok(map!(handle::get(a, "a")?, t => reduce::sum(&t, dim.into())?))
    })
}

/// `mean(a, dim)`: as `ds_sum`, divided by the number of values added.
#[no_mangle]
pub extern "C" fn ds_mean(a: *const ds_array, dim: i32, out: *mut *mut ds_array) -> ds_status {
    emit(out, || {
        Ok(map!(handle::get(a, "a")?, t => reduce::mean(&t, dim.into())?))
    })
}

/// `sum(a)`: the total of every value (result `[1]`, one sample).
#[no_mangle]
pub extern "C" fn ds_sum_all(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    emit(out, || {
        Ok(map!(handle::get(a, "a")?, t => reduce::sum_all(&t)?))
    })
}

/// `mean(a)`: the mean of every value (result `[1]`, one sample).
#[no_mangle]
pub extern "C" fn ds_mean_all(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    emit(out, || {
        Ok(map!(handle::get(a, "a")?, t => reduce::mean_all(&t)?))
    })
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
        let (a, b) = (handle::get(a, "a")?, handle::get(b, "b")?);
        Ok(map2!("matmul", a, b, (x, y) => linalg::matmul(&x, &y)?))
    })
}

fn matmul_real2d<T: Elem>(
    left: bool,
    a: *const ds_array,
    m: *const T,
    rows: usize,
    cols: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let m = slice(m, rows.saturating_mul(cols), "m")?;
        let what = if left {
            "ds_real2d_matmul"
        } else {
            "ds_matmul_real2d"
        };
        let a = handle::get(a, if left { "b" } else { "a" })?;
        let a = a.typed::<T>(what)?;
        Ok(T::wrap(if left {
            linalg::real2d_matmul(m, rows, cols, a)?
        } else {
            linalg::matmul_real2d(a, m, rows, cols)?
        }))
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
    matmul_real2d(false, a, m, rows, cols, out)
}

/// `ds_matmul_real2d` for a `double` array and matrix.
#[no_mangle]
pub extern "C" fn ds_matmul_real2d_f64(
    a: *const ds_array,
    m: *const f64,
    rows: usize,
    cols: usize,
    out: *mut *mut ds_array,
) -> ds_status {
    matmul_real2d(false, a, m, rows, cols, out)
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
    matmul_real2d(true, b, m, rows, cols, out)
}

/// `ds_real2d_matmul` for a `double` matrix and array.
#[no_mangle]
pub extern "C" fn ds_real2d_matmul_f64(
    m: *const f64,
    rows: usize,
    cols: usize,
    b: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    matmul_real2d(true, b, m, rows, cols, out)
}

/// `dot_product(a, b)` (`.dot.`): per sample, the sum of `a * b` over two vectors; result `[1]`.
#[no_mangle]
pub extern "C" fn ds_dot_product(
    a: *const ds_array,
    b: *const ds_array,
    out: *mut *mut ds_array,
) -> ds_status {
    emit(out, || {
        let (a, b) = (handle::get(a, "a")?, handle::get(b, "b")?);
        Ok(map2!("dot_product", a, b, (x, y) => linalg::dot_product(&x, &y)?))
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
        let (a, b) = (handle::get(a, "a")?, handle::get(b, "b")?);
        Ok(map2!("outer_product", a, b, (x, y) => linalg::outer_product(&x, &y)?))
    })
}

/// `transpose(a)`: per sample `[m, n] -> [n, m]`.
#[no_mangle]
pub extern "C" fn ds_transpose(a: *const ds_array, out: *mut *mut ds_array) -> ds_status {
    emit(out, || {
        Ok(map!(handle::get(a, "a")?, t => linalg::transpose(&t)?))
    })
}
