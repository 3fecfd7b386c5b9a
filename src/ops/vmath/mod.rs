//! Vectorised f32 maths over slices: the value and derivative kernels of the element-wise
//! operations ([`crate::ops::unary`]).
//!
//! # Functions
//!
//! [`Func`]: `exp`, `ln`, `log10`, `sqrt`, `tanh`, `sigmoid`, `sin`, `cos`, `tan`; [`gaussian`]
//! (the normal density of [`crate::gaussian`]); and the reverse-mode kernels [`Deriv`]
//! (`g * f'`, from the input or the output as each rule needs) and [`gaussian_deriv`].
//!
//! # Paths
//!
//! Each kernel is one generic function over a small vector abstraction, compiled three times
//! ([`Path`]): AVX-512F (16 lanes), AVX2 + FMA (8 lanes), and a portable path in plain Rust
//! (4 lanes; used on x86-64 CPUs without AVX2/FMA and on every other architecture, where
//! `f32::mul_add` is the hardware's fused multiply-add; x86-64 without FMA emulates it exactly
//! in f64). The path is chosen once at
//! run time ([`Path::selected`]; the environment variable `DIFFSTRUC_VMATH=scalar|avx2|avx512`
//! can choose a slower available one). All paths execute the same IEEE operations in the same
//! order (with fused multiply-adds everywhere), so **their results are bit-identical**: a
//! result depends neither on the CPU's vector width nor on where an element sits in a slice or
//! how a slice is split between threads. The kernels hold no reductions. (The only outside
//! dependency: `sin`, `cos` and `tan` beyond [`REDUCTION_LIMIT`] use the platform's f64 `sin`,
//! `cos`, `tan`.) AVX-512 is preferred over AVX2 when both exist: on this project's AMD EPYC it
//! is 1.6 to 1.9 times faster (`sqrt`, memory-bound, runs at the same speed).
//!
//! # Accuracy
//!
//! The promise is **at most 2 ulp** for every function, every f32 argument and every path.
//! Errors are measured against the exact value (computed in f64, compared before rounding), in
//! units in the last place of the f32 result (units of 2^-149 for subnormal results).
//! Measured over **every f32 input** (`tests/vmath.rs`, `exhaustive`; all three paths, which
//! agree bit for bit on every input) on an AMD EPYC with AVX-512:
//!
//! | function | max ulp | worst case |
//! |---|---|---|
//! | `exp` | 0.759 | subnormal results (normal results: 0.660) |
//! | `ln` | 0.835 | |
//! | `log10` | 0.832 | |
//! | `sqrt` | 0.500 | correctly rounded (the hardware instruction) |
//! | `tanh` | 0.780 | |
//! | `sigmoid` | 0.772 | `x` near -86 (results near 3e-38) |
//! | `sin` | 0.760 | |
//! | `cos` | 0.750 | |
//! | `tan` | 1.028 | near pi/4 (all other functions stay below 0.84) |
//! | `gaussian` | 0.76 | on the sweep (1 million points in [-20, 20] plus a stride over all f32, five `(mu, sigma)`) |
//!
//! The default tests (`cargo test --release --test vmath`, about 10 s) sweep about 6 million
//! inputs per function: a stride over all bit patterns plus dense neighbourhoods of every edge
//! (zero, subnormals, overflow and underflow thresholds, the polynomial/formula switch points,
//! multiples of pi/4 and the reduction limit).
//!
//! # Speed
//!
//! `cargo run --release --example vmath_bench` prints nanoseconds per element for every
//! function and path against the standard library's scalar functions. One run on this
//! project's AMD EPYC (2 cores shared with other work, load average 5, so single numbers are
//! ±30%), 100,000 values, ns/element:
//!
//! | | exp | ln | log10 | sqrt | tanh | sigmoid | sin | cos | tan |
//! |---|---|---|---|---|---|---|---|---|---|
//! | std (glibc) | 5.03 | 5.20 | 10.7 | 1.39 | 23.4 | 5.86 | 13.5 | 12.1 | 22.7 |
//! | AVX2 | 0.57 | 0.84 | 1.09 | 0.18 | 3.25 (1.25 with 4,096 values) | 0.99 | 1.05 | 1.08 | 1.40 |
//! | AVX-512 | 0.32 | 0.52 | 0.64 | 0.18 | 0.66 | 0.61 | 0.64 | 0.66 | 0.73 |
//!
//! The portable path (forced with `DIFFSTRUC_VMATH=scalar`) takes 2 to 42 ns per element on
//! x86-64 (`ln` 1.9, `exp` 20, `sin` 27, `tanh` 42), where its fused multiply-add is emulated;
//! it exists for x86-64 CPUs without AVX2 and for other architectures. With a plain
//! multiply-add in place of the emulation, `exp` takes 1.3 ns here, which suggests what a
//! hardware fused multiply-add gives (not measured on another architecture).
//!
//! Special values: NaN in, NaN out; `exp(-inf) = 0`, `exp(inf) = inf`; `ln(±0) = -inf`,
//! `ln(x < 0) = NaN`, `ln(inf) = inf`; `sqrt(-0) = -0`; `tanh(±inf) = ±1`,
//! `sigmoid(-inf) = 0`, `sigmoid(inf) = 1`; `sin`, `cos`, `tan` of ±inf are NaN; odd functions
//! keep the sign of zero. `sin`, `cos` and `tan` reduce their argument in f32 for
//! `|x| <= 2^17` ([`REDUCTION_LIMIT`]); beyond it a lane is computed in f64 by the standard
//! library (slower, same bound).
//!
//! The derivative kernels [`Deriv`] evaluate exactly the expressions of the forward-mode rules
//! (the same operations in the same order, no fused multiply-add), so forward and reverse mode
//! agree bit for bit.

mod exp;
mod log;
mod run;
mod simd;
mod trig;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::atomic::{AtomicU8, Ordering};

use crate::core::dims::{self, Dims};
use crate::core::pool;
use run::{Args, Kernel};

pub use trig::REDUCTION_LIMIT;

/// A function with a vectorised value kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    /// `e^x`
    Exp,
    /// natural logarithm
    Ln,
    /// base-10 logarithm
    Log10,
    /// square root (the hardware instruction: correctly rounded)
    Sqrt,
    /// hyperbolic tangent
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// sine
    Sin,
    /// cosine
    Cos,
    /// tangent
    Tan,
}

impl Func {
    /// Every function.
    pub const ALL: [Func; 9] = [
        Func::Exp,
        Func::Ln,
        Func::Log10,
        Func::Sqrt,
        Func::Tanh,
        Func::Sigmoid,
        Func::Sin,
        Func::Cos,
        Func::Tan,
    ];

    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Ln => "ln",
            Func::Log10 => "log10",
            Func::Sqrt => "sqrt",
            Func::Tanh => "tanh",
            Func::Sigmoid => "sigmoid",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
        }
    }
}

/// A reverse-mode kernel: the upstream gradient `g` times the derivative, from `v` (the input
/// `x` or the output `c = f(x)`, as stated for each), evaluated exactly as the forward-mode
/// rule's graph evaluates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Deriv {
    /// `g * c`
    Exp,
    /// `g / x`
    Ln,
    /// `g / (x * ln 10)`
    Log10,
    /// `(g * 0.5) / c`
    Sqrt,
    /// `g * (1 - c * c)`
    Tanh,
    /// `g * (c * (1 - c))`
    Sigmoid,
    /// `g * cos(x)` (with this module's `cos`)
    Sin,
    /// `-g * sin(x)` (with this module's `sin`)
    Cos,
    /// `g * (c * c + 1)`
    Tan,
    /// `g * (x * 2)`: the derivative of a square
    Square,
}

/// An element-wise binary operation with a vectorised kernel (IEEE operations, so every path
/// gives the same bits as scalar code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bin {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `max(a, b)`, NaN from either side propagated
    Max,
}

impl Bin {
    /// The scalar definition, for either element type (the vector kernels give the same bits).
    pub(crate) fn scalar<T: crate::core::Real>(self, x: T, y: T) -> T {
        match self {
            Bin::Add => x + y,
            Bin::Sub => x - y,
            Bin::Mul => x * y,
            Bin::Div => x / y,
            Bin::Max => {
                if x > y || x.is_nan() {
                    x
                } else {
                    y
                }
            }
        }
    }
}

/// Below this many output values, binary operations run the scalar definition inline: the
/// dispatch to a vector kernel costs more than the work (the scalar-overhead workload).
const SMALL: usize = 16;

/// Which operands of a binary kernel are a single value standing for every element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Form {
    /// neither
    Both,
    /// `a`
    OneA,
    /// `b`
    OneB,
    /// both
    Ones,
}

/// An implementation of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// One lane at a time, portable.
    Scalar,
    /// 8 lanes, x86-64 with AVX2 and FMA.
    Avx2,
    /// 16 lanes, x86-64 with AVX-512F.
    Avx512,
}

static SELECTED: AtomicU8 = AtomicU8::new(0);

impl Path {
    /// Every path, available or not.
    pub const ALL: [Path; 3] = [Path::Scalar, Path::Avx2, Path::Avx512];

    /// The path's name (`scalar`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            Path::Scalar => "scalar",
            Path::Avx2 => "avx2",
            Path::Avx512 => "avx512",
        }
    }

    /// True if this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            Path::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The available paths.
    pub fn available() -> Vec<Path> {
        Path::ALL.into_iter().filter(|p| p.is_available()).collect()
    }

    /// The path the dispatching functions use: the widest available, or the one named by
    /// `DIFFSTRUC_VMATH` if it is available. Detected once, then cached.
    pub fn selected() -> Path {
        match SELECTED.load(Ordering::Relaxed) {
            1 => Path::Scalar,
            2 => Path::Avx2,
            3 => Path::Avx512,
            _ => {
                let p = Path::detect();
                SELECTED.store(p as u8 + 1, Ordering::Relaxed);
                p
            }
        }
    }

    fn detect() -> Path {
        let wanted = std::env::var("DIFFSTRUC_VMATH").ok().and_then(|v| {
            Path::ALL
                .into_iter()
                .find(|p| p.name().eq_ignore_ascii_case(v.trim()))
        });
        match wanted {
            Some(p) if p.is_available() => p,
            _ => [Path::Avx512, Path::Avx2]
                .into_iter()
                .find(|p| p.is_available())
                .unwrap_or(Path::Scalar),
        }
    }
}

/// Runs a kernel on an available path.
///
/// # Safety
/// `p` must be valid for the kernel (see [`Args`]) and `path` available.
unsafe fn run(path: Path, k: Kernel, p: Args) {
    if p.n < PARALLEL_MIN {
        // SAFETY: forwarded from the caller.
        return unsafe { run_one(path, k, p) };
    }
    let shared = Shared(p);
    crate::core::threads::for_chunks(p.n, PARALLEL_MIN / 2, 64, |start, end| {
        let p = shared.args();
        // A one-value operand stays where it is; every other pointer moves to the chunk.
        let (a_fixed, b_fixed) = match k {
            Kernel::Binary(_, Form::OneA) => (true, false),
            Kernel::Binary(_, Form::OneB) => (false, true),
            Kernel::Binary(_, Form::Ones) => (true, true),
            _ => (false, false),
        };
        let chunk = Args {
            a: if a_fixed {
                p.a
            } else {
                p.a.wrapping_add(start)
            },
            b: if b_fixed {
                p.b
            } else {
                p.b.wrapping_add(start)
            },
            c: p.c.wrapping_add(start),
            out: p.out.wrapping_add(start),
            out2: p.out2.wrapping_add(start),
            n: end - start,
        };
        // SAFETY: the chunks are disjoint ranges of `0..n`, inside every operand the kernel
        // reads (or its single value) and every output it writes; an element's result does not
        // depend on the chunk it is in (see `run.rs`).
        unsafe { run_one(path, k, chunk) }
    });
}

/// Element-wise kernels of at least this many values may be split across threads (when more
/// than one is set: see [`crate::core::threads`]). Below it, waking the workers costs more than
/// they save (measured on W1, 10^5 values per kernel: 2 threads were slower than one).
const PARALLEL_MIN: usize = 1 << 17;

/// Kernel operands handed to worker threads.
#[derive(Clone, Copy)]
struct Shared(Args);
// SAFETY: the pointers are only used for the disjoint chunks of one kernel call, which waits for
// every chunk before returning (so they outlive every use).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// (A method, so that closures capture the whole wrapper, not its raw-pointer field.)
    fn args(&self) -> Args {
        self.0
    }
}

/// Runs a kernel over all of `p` on the calling thread.
///
/// # Safety
/// As [`run`].
unsafe fn run_one(path: Path, k: Kernel, p: Args) {
    // SAFETY: forwarded from the caller; each arm's CPU features are those of `path`.
    unsafe {
        match path {
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => run::run_avx512(k, p),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => run::run_avx2(k, p),
            _ => run::run_scalar(k, p),
        }
    }
}

fn checked(path: Path) -> Path {
    assert!(
        path.is_available(),
        "vmath: the {} path is not available on this CPU",
        path.name()
    );
    path
}

/// Runs `k` into a new buffer of `n` values from the pool.
fn collect(k: Kernel, n: usize, a: &[f32], b: &[f32], c: &[f32]) -> Vec<f32> {
    let mut v = pool::with_capacity(n);
    let args = Args {
        a: a.as_ptr(),
        b: b.as_ptr(),
        c: c.as_ptr(),
        out: v.spare_capacity_mut().as_mut_ptr().cast::<f32>(),
        out2: std::ptr::null_mut(),
        n,
    };
    // SAFETY: callers pass operands of at least `n` values where the kernel reads them; `v` has
    // room for `n` values; the selected path is available. The kernel writes all `n` values
    // before `set_len`.
    unsafe {
        run(Path::selected(), k, args);
        v.set_len(n);
    }
    v
}

fn into(path: Path, k: Kernel, out: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    let args = Args {
        a: a.as_ptr(),
        b: b.as_ptr(),
        c: c.as_ptr(),
        out: out.as_mut_ptr(),
        out2: std::ptr::null_mut(),
        n: out.len(),
    };
    // SAFETY: callers checked that every operand the kernel reads has `out.len()` values, and
    // that `path` is available.
    unsafe { run(path, k, args) }
}

/// `out[i] = f(x[i])` on the [selected](Path::selected) path.
///
/// # Panics
/// If the lengths differ.
pub fn eval(f: Func, x: &[f32], out: &mut [f32]) {
    eval_on(Path::selected(), f, x, out)
}

/// [`eval`] on a given path.
///
/// # Panics
/// If the lengths differ or the path is not available.
pub fn eval_on(path: Path, f: Func, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "vmath::eval: lengths differ");
    into(checked(path), Kernel::Value(f), out, x, x, x)
}

/// `out[i] = g[i] * f'(...)` from `v` (see [`Deriv`]) on the selected path.
///
/// # Panics
/// If the lengths differ.
pub fn deriv(d: Deriv, g: &[f32], v: &[f32], out: &mut [f32]) {
    deriv_on(Path::selected(), d, g, v, out)
}

/// [`deriv`] on a given path.
///
/// # Panics
/// If the lengths differ or the path is not available.
pub fn deriv_on(path: Path, d: Deriv, g: &[f32], v: &[f32], out: &mut [f32]) {
    assert!(
        g.len() == out.len() && v.len() == out.len(),
        "vmath::deriv: lengths differ"
    );
    into(checked(path), Kernel::Deriv(d), out, g, v, v)
}

/// The normal density `exp(-((x - mu) / sigma)^2 / 2) / (sqrt(2 pi) sigma)` on the selected
/// path.
///
/// # Panics
/// If the lengths differ.
pub fn gaussian(x: &[f32], mu: f32, sigma: f32, out: &mut [f32]) {
    gaussian_on(Path::selected(), x, mu, sigma, out)
}

/// [`gaussian`] on a given path.
///
/// # Panics
/// If the lengths differ or the path is not available.
pub fn gaussian_on(path: Path, x: &[f32], mu: f32, sigma: f32, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "vmath::gaussian: lengths differ");
    let k = Kernel::Gauss(exp::Gauss::new(mu, sigma));
    into(checked(path), k, out, x, x, x)
}

/// The gaussian's reverse kernel `g * ((c * (x - mu)) * k)` with `k = -1 / (sigma * sigma)`
/// (the forward rule's expression), on the selected path.
///
/// # Panics
/// If the lengths differ.
pub fn gaussian_deriv(g: &[f32], x: &[f32], c: &[f32], mu: f32, sigma: f32, out: &mut [f32]) {
    gaussian_deriv_on(Path::selected(), g, x, c, mu, sigma, out)
}

/// [`gaussian_deriv`] on a given path.
///
/// # Panics
/// If the lengths differ or the path is not available.
pub fn gaussian_deriv_on(
    path: Path,
    g: &[f32],
    x: &[f32],
    c: &[f32],
    mu: f32,
    sigma: f32,
    out: &mut [f32],
) {
    let n = out.len();
    assert!(
        g.len() == n && x.len() == n && c.len() == n,
        "vmath::gaussian_deriv: lengths differ"
    );
    let k = Kernel::GaussDeriv {
        mu,
        k: gaussian_deriv_factor(sigma),
    };
    into(checked(path), k, out, g, x, c)
}

/// `-1 / (sigma * sigma)`, the factor of the gaussian's derivative rules.
pub(crate) fn gaussian_deriv_factor(sigma: f32) -> f32 {
    -1.0 / (sigma * sigma)
}

/// `f(x)` into a new (pooled) buffer.
pub(crate) fn eval_vec(f: Func, x: &[f32]) -> Vec<f32> {
    collect(Kernel::Value(f), x.len(), x, x, x)
}

/// `g * f'` into a new (pooled) buffer; `v` has `g.len()` values.
pub(crate) fn deriv_vec(d: Deriv, g: &[f32], v: &[f32]) -> Vec<f32> {
    let n = g.len().min(v.len());
    collect(Kernel::Deriv(d), n, g, v, v)
}

/// The normal density into a new (pooled) buffer.
pub(crate) fn gaussian_vec(x: &[f32], mu: f32, sigma: f32) -> Vec<f32> {
    let k = Kernel::Gauss(exp::Gauss::new(mu, sigma));
    collect(k, x.len(), x, x, x)
}

/// The gaussian's reverse kernel into a new (pooled) buffer.
pub(crate) fn gaussian_deriv_vec(g: &[f32], x: &[f32], c: &[f32], mu: f32, sigma: f32) -> Vec<f32> {
    let n = g.len().min(x.len()).min(c.len());
    let k = Kernel::GaussDeriv {
        mu,
        k: gaussian_deriv_factor(sigma),
    };
    collect(k, n, g, x, c)
}

/// `a op b` with broadcasting (see [`crate::core::dims`]) into a new (pooled) buffer of extents
/// `out`.
///
/// # Panics
/// If a buffer's length differs from its extents.
pub(crate) fn binary_vec(op: Bin, a: &[f32], da: Dims, b: &[f32], db: Dims, out: Dims) -> Vec<f32> {
    if out.len() < SMALL {
        return dims::zip_with(a, da, b, db, out, |x, y| op.scalar(x, y));
    }
    binary_with(Path::selected(), op, a, da, b, db, out)
}

/// [`binary_vec`] on a given (available) path.
fn binary_with(
    path: Path,
    op: Bin,
    a: &[f32],
    da: Dims,
    b: &[f32],
    db: Dims,
    out: Dims,
) -> Vec<f32> {
    let path = checked(path);
    assert!(
        a.len() == da.len() && b.len() == db.len(),
        "vmath::binary: extents"
    );
    let n = out.len();
    let mut v = pool::with_capacity(n);
    let o = v.spare_capacity_mut().as_mut_ptr().cast::<f32>();
    for blk in dims::blocks(da, db, out) {
        let form = match (blk.a_one, blk.b_one) {
            (false, false) => Form::Both,
            (true, false) => Form::OneA,
            (false, true) => Form::OneB,
            (true, true) => Form::Ones,
        };
        let args = Args {
            a: a[blk.a..].as_ptr(),
            b: b[blk.b..].as_ptr(),
            c: a.as_ptr(),
            // SAFETY: blocks cover `0..n` of the buffer's capacity.
            out: unsafe { o.add(blk.out) },
            out2: std::ptr::null_mut(),
            n: blk.len,
        };
        // SAFETY: each block reads `len` values (one for a single operand) inside `a` and `b`
        // (dims::blocks stays within the extents checked above) and writes inside `v`'s
        // capacity; the selected path is available.
        unsafe { run(path, Kernel::Binary(op, form), args) };
    }
    // SAFETY: the blocks wrote every value of `0..n`.
    unsafe { v.set_len(n) };
    v
}

/// Both gradients of `x * y` from the upstream gradient `g` (all of one length): `(g * y, g * x)`
/// in one pass.
///
/// # Panics
/// If the lengths differ.
pub(crate) fn mul_grads_vec(g: &[f32], x: &[f32], y: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let n = g.len();
    assert!(
        x.len() == n && y.len() == n,
        "vmath::mul_grads: lengths differ"
    );
    let (mut gx, mut gy) = (pool::with_capacity(n), pool::with_capacity(n));
    let args = Args {
        a: g.as_ptr(),
        b: y.as_ptr(),
        c: x.as_ptr(),
        out: gx.spare_capacity_mut().as_mut_ptr().cast::<f32>(),
        out2: gy.spare_capacity_mut().as_mut_ptr().cast::<f32>(),
        n,
    };
    // SAFETY: three inputs of `n` values, two outputs with room for `n`, all written.
    unsafe {
        run(Path::selected(), Kernel::MulGrads, args);
        gx.set_len(n);
        gy.set_len(n);
    }
    (gx, gy)
}

/// The divisor's gradient of `q = x / y`: `-(g * q) / y` (all of one length), in one pass.
pub(crate) fn div_grad_vec(g: &[f32], q: &[f32], y: &[f32]) -> Vec<f32> {
    let n = g.len().min(q.len()).min(y.len());
    collect(Kernel::DivGrad, n, g, q, y)
}

/// `acc += x` element-wise over `min(acc.len(), x.len())` values (the gradient accumulation of
/// the reverse pass), vectorised.
pub(crate) fn add_assign(acc: &mut [f32], x: &[f32]) {
    let n = acc.len().min(x.len());
    let out = acc.as_mut_ptr();
    let args = Args {
        a: out.cast_const(),
        b: x.as_ptr(),
        c: x.as_ptr(),
        out,
        out2: std::ptr::null_mut(),
        n,
    };
    // SAFETY: `n` values readable at `a`, `b` and writable at `out`; `out` aliases `a`, which the
    // kernel reads lane by lane before it stores the same lanes; the selected path is available.
    unsafe { run(Path::selected(), Kernel::Binary(Bin::Add, Form::Both), args) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scalar definition of each binary operation (what `arith` computed before).
    fn reference(op: Bin, x: f32, y: f32) -> f32 {
        match op {
            Bin::Add => x + y,
            Bin::Sub => x - y,
            Bin::Mul => x * y,
            Bin::Div => x / y,
            Bin::Max => {
                if x > y || x.is_nan() {
                    x
                } else {
                    y
                }
            }
        }
    }

    /// Every binary kernel, every broadcast form, every available path: the same bits as the
    /// scalar definition (NaN compared as NaN), including NaN, infinities, signed zeros and
    /// subnormals, over lengths that exercise the partial tails.
    #[test]
    fn binary_kernels_match_scalar_definitions() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -2.5,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-40,
            -3e38,
            7.0,
        ];
        let value = |i: usize, salt: usize| specials[(i * 7 + salt) % specials.len()];
        // (a extents, b extents, out extents)
        let cases = [
            ((37, 3), (37, 3), (37, 3)),
            ((37, 3), (1, 1), (37, 3)),
            ((1, 1), (37, 3), (37, 3)),
            ((37, 1), (37, 3), (37, 3)),
            ((1, 3), (37, 3), (37, 3)),
            ((37, 3), (1, 3), (37, 3)),
            ((1, 3), (37, 1), (37, 3)),
            ((1, 3), (1, 1), (1, 3)),
            ((17, 1), (1, 5), (17, 5)),
            ((3, 2), (3, 1), (3, 2)),
            ((1, 1), (1, 1), (1, 1)),
        ];
        for path in Path::ALL.into_iter().filter(|p| p.is_available()) {
            for op in [Bin::Add, Bin::Sub, Bin::Mul, Bin::Div, Bin::Max] {
                for ((ea, sa), (eb, sb), (eo, so)) in cases {
                    let (da, db, dout) = (Dims::new(ea, sa), Dims::new(eb, sb), Dims::new(eo, so));
                    let a: Vec<f32> = (0..da.len()).map(|i| value(i, 1)).collect();
                    let b: Vec<f32> = (0..db.len()).map(|i| value(i, 4)).collect();
                    let mut got = binary_with(path, op, &a, da, &b, db, dout);
                    // the entry point (scalar below `SMALL` values) agrees as well
                    got.extend(binary_vec(op, &a, da, &b, db, dout));
                    // broadcasting spelled out independently of `dims::blocks`
                    let at = |d: Dims, e: usize, s: usize| {
                        (if d.elems == 1 { 0 } else { e })
                            + if d.batch == 1 { 0 } else { s * d.elems }
                    };
                    let want: Vec<f32> = (0..dout.len())
                        .map(|k| {
                            let (e, s) = (k % dout.elems, k / dout.elems);
                            reference(op, a[at(da, e, s)], b[at(db, e, s)])
                        })
                        .collect();
                    let want: Vec<f32> = want.iter().chain(&want).copied().collect();
                    assert_eq!(got.len(), want.len());
                    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                            "{op:?} {path:?} {da:?} {db:?} at {k}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn add_assign_adds_in_place() {
        for n in [0, 1, 15, 16, 17, 100] {
            let mut acc: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let x: Vec<f32> = (0..n).map(|i| 0.5 * i as f32).collect();
            add_assign(&mut acc, &x);
            assert!(acc.iter().enumerate().all(|(i, &v)| v == 1.5 * i as f32));
        }
    }

    #[test]
    fn mul_grads_match_two_products() {
        let g: Vec<f32> = (0..37).map(|i| i as f32 * 0.25 - 3.0).collect();
        let x: Vec<f32> = (0..37).map(|i| (i as f32).sin()).collect();
        let y: Vec<f32> = (0..37).map(|i| (i as f32).cos()).collect();
        let (gx, gy) = mul_grads_vec(&g, &x, &y);
        for i in 0..37 {
            assert_eq!(gx[i].to_bits(), (g[i] * y[i]).to_bits());
            assert_eq!(gy[i].to_bits(), (g[i] * x[i]).to_bits());
        }
        let q: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a / b).collect();
        let d = div_grad_vec(&g, &q, &y);
        for i in 0..37 {
            assert_eq!(d[i].to_bits(), (-(g[i] * q[i]) / y[i]).to_bits());
        }
    }
}
