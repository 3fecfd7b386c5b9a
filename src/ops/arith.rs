//! Arithmetic: `+ - * / **`, `max` and negation, in every diffstruc form (array with array,
//! scalar, 1-D and 2-D real arrays).
//!
//! Every form is one [`BinaryOp`] between two arrays with broadcasting (see
//! [`crate::core::dims`]); a real operand becomes a constant leaf node, as diffstruc's wrapped
//! constants do, so `print_graph` shows the same tree. The forms differ only in the constant's
//! extents and in the operation name they print.

use super::vmath::{self, Bin};
use super::{describe, unary, with_values2, Operation, SAVED_RESULT};
use crate::core::alloc;
use crate::core::dims::{zip_with, Dims};
use crate::core::small::Inputs;
use crate::core::{pool, Error, Flags, Grad, OpRef, Real, Result, Tensor};

/// An element-wise binary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ** b`
    Pow,
    /// `max(a, b)` (ties pass the gradient to both operands, as in diffstruc)
    Max,
}

impl BinaryOp {
    /// The diffstruc operation name of the array-array form.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "subtract",
            BinaryOp::Mul => "multiply",
            BinaryOp::Div => "divide",
            BinaryOp::Pow => "power",
            BinaryOp::Max => "max",
        }
    }
}

/// `x ** y` as Fortran evaluates a real power (`powf`), with an exact shortcut for squares.
fn power<T: Real>(x: T, y: T) -> T {
    if y == T::from_f64(2.0) {
        x * x
    } else if y == T::ONE {
        x
    } else {
        x.powf(y)
    }
}

/// Value kernel. The arithmetic operations run the vectorised kernels of [`vmath`] (IEEE
/// operations: the same bits as scalar code on every path).
fn kernel<T: Real>(op: BinaryOp, a: &[T], da: Dims, b: &[T], db: Dims, out: Dims) -> Vec<T> {
    let bin = |f| T::binary_vec(f, a, da, b, db, out);
    match op {
        BinaryOp::Add => bin(Bin::Add),
        BinaryOp::Sub => bin(Bin::Sub),
        BinaryOp::Mul => bin(Bin::Mul),
        BinaryOp::Div => bin(Bin::Div),
        BinaryOp::Max => bin(Bin::Max),
        // a square is a product (exact, as `power` computes it)
        BinaryOp::Pow if db.len() == 1 && b[0] == T::from_f64(2.0) => {
            T::binary_vec(Bin::Mul, a, da, a, da, out)
        }
        BinaryOp::Pow => zip_with(a, da, b, db, out, power),
    }
}

struct Binary {
    op: BinaryOp,
    name: &'static str,
}

/// One shared instance per (operation, printed name) of the built-in forms.
static BINARY_FORMS: [Binary; 15] = [
    Binary {
        op: BinaryOp::Add,
        name: "add",
    },
    Binary {
        op: BinaryOp::Sub,
        name: "subtract",
    },
    Binary {
        op: BinaryOp::Sub,
        name: "subtract_scalar",
    },
    Binary {
        op: BinaryOp::Mul,
        name: "multiply",
    },
    Binary {
        op: BinaryOp::Mul,
        name: "multiply_scalar",
    },
    Binary {
        op: BinaryOp::Mul,
        name: "divide_scalar",
    },
    Binary {
        op: BinaryOp::Mul,
        name: "multiply_real2d",
    },
    Binary {
        op: BinaryOp::Div,
        name: "divide",
    },
    Binary {
        op: BinaryOp::Div,
        name: "scalar_divide",
    },
    Binary {
        op: BinaryOp::Div,
        name: "divide_real1d",
    },
    Binary {
        op: BinaryOp::Pow,
        name: "power",
    },
    Binary {
        op: BinaryOp::Pow,
        name: "power_scalar",
    },
    Binary {
        op: BinaryOp::Pow,
        name: "scalar_power",
    },
    Binary {
        op: BinaryOp::Max,
        name: "max",
    },
    Binary {
        op: BinaryOp::Max,
        name: "max_scalar",
    },
];

fn binary_op_ref<T: Real>(op: BinaryOp, name: &'static str) -> OpRef<T> {
    BINARY_FORMS
        .iter()
        .find(|b| b.op == op && b.name == name)
        .map_or_else(
            || OpRef::Shared(std::sync::Arc::new(Binary { op, name })),
            |b| OpRef::Static(b),
        )
}

/// Builds `a op b` with the given printed name.
pub(crate) fn binary_named<T: Real>(
    op: BinaryOp,
    name: &'static str,
    a: &Tensor<T>,
    b: &Tensor<T>,
) -> Result<Tensor<T>> {
    let (da, db) = (a.dims(), b.dims());
    let out = da.broadcast(db).ok_or_else(|| {
        Error::shape(format!(
            "{name}: shapes do not conform: {} and {}",
            describe(a),
            describe(b)
        ))
    })?;
    let data = alloc::guard_op(name, &[a, b], || {
        alloc::checked_len(|| name.to_string(), &[out.elems, out.batch])?;
        Ok(with_values2(a, b, |va, vb| kernel(op, va, da, vb, db, out)))
    })?;
    let shape = if out.elems == da.elems {
        a.shape()
    } else {
        b.shape()
    };
    let flags = Flags {
        sample_dependent: a.is_sample_dependent() || b.is_sample_dependent(),
        scalar: a.is_scalar() && b.is_scalar(),
    };
    Ok(Tensor::from_op(
        shape,
        out.batch,
        data,
        flags,
        binary_op_ref(op, name),
        Inputs::two(a.clone(), b.clone()),
    ))
}

/// A 0/1 constant: 1 where `out == x` (the max rule's selector).
fn selector<T: Real>(out: &Tensor<T>, x: &Tensor<T>) -> Tensor<T> {
    let (od, xd) = (out.dims(), x.dims());
    let data = with_values2(out, x, |c, v| {
        zip_with(
            c,
            od,
            v,
            xd,
            od,
            |c, v| if c == v { T::ONE } else { T::ZERO },
        )
    });
    Tensor::constant(
        out.shape(),
        od.batch,
        data,
        out.is_sample_dependent(),
        false,
    )
}

/// The exponent of `a ** b` if `b` is a constant single number.
fn constant_exponent<T: Real>(b: &Tensor<T>) -> Option<T> {
    (b.dims().len() == 1 && !b.requires_grad()).then(|| b.values()[0])
}

impl<T: Real> Operation<T> for Binary {
    fn name(&self) -> &str {
        self.name
    }

    fn saved_for(&self, input: usize) -> u64 {
        const A: u64 = 1;
        const B: u64 = 2;
        match (self.op, input) {
            (BinaryOp::Add | BinaryOp::Sub, _) => 0,
            (BinaryOp::Mul, 0) | (BinaryOp::Div, 0) => B,
            (BinaryOp::Mul, _) => A,
            (BinaryOp::Div, _) => B | SAVED_RESULT,
            (BinaryOp::Max, 0) => A | SAVED_RESULT,
            (BinaryOp::Max, _) => B | SAVED_RESULT,
            // the exponent's value decides the rule for the base
            (BinaryOp::Pow, 0) => A | B,
            (BinaryOp::Pow, _) => A | SAVED_RESULT,
        }
    }

    fn jvp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        let (a, b) = (&x[0], &x[1]);
        let left = match &t[0] {
            None => None,
            Some(ta) => match self.op {
                BinaryOp::Add | BinaryOp::Sub => Some(ta.clone()),
                BinaryOp::Mul => Some(mul(ta, b)?),
                BinaryOp::Div => Some(div(ta, b)?),
                BinaryOp::Max => Some(mul(ta, &selector(out, a))?),
                BinaryOp::Pow => match constant_exponent(b).map(|e| (e.to_f64(), e)) {
                    Some((0.0, _)) => None,
                    Some((1.0, _)) => Some(ta.clone()),
                    // d(a**2) = 2 a t: no `a**1` node
                    Some((2.0, e)) => Some(mul(ta, &mul_scalar(a, e)?)?),
                    Some((_, e)) => Some(mul(ta, &mul_scalar(&pow_scalar(a, e - T::ONE)?, e)?)?),
                    None => Some(mul(ta, &mul(b, &pow(a, &sub_scalar(b, T::ONE)?)?)?)?),
                },
            },
        };
        let right = match &t[1] {
            None => None,
            Some(tb) => Some(match self.op {
                BinaryOp::Add => tb.clone(),
                BinaryOp::Sub => neg(tb)?,
                BinaryOp::Mul => mul(tb, a)?,
                BinaryOp::Div => neg(&div(&mul(tb, out)?, b)?)?,
                BinaryOp::Max => mul(tb, &selector(out, b))?,
                BinaryOp::Pow => mul(&mul(tb, &unary::log(a)?)?, out)?,
            }),
        };
        super::sum_tangents(left, right)
    }

    fn vjp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        wants: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        let (a, b) = (&x[0], &x[1]);
        let (da, db, od) = (a.dims(), b.dims(), out.dims());
        let gs = g.as_slice();
        // `g op v` with `v` broadcast to the output's extents
        let scaled = |f: Bin, v: &[T], dv: Dims| Grad::new(T::binary_vec(f, gs, od, v, dv, od), od);
        // both gradients of a product without broadcasting: one pass
        if self.op == BinaryOp::Mul && wants[0] && wants[1] && da == od && db == od {
            let (ga, gb) = with_values2(a, b, |va, vb| T::mul_grads_vec(gs, va, vb));
            return Ok(vec![Some(Grad::new(ga, od)), Some(Grad::new(gb, od))]);
        }
        let left = wants[0].then(|| match self.op {
            BinaryOp::Add | BinaryOp::Sub => g.clone(),
            BinaryOp::Mul => scaled(Bin::Mul, &b.values(), db),
            BinaryOp::Div => scaled(Bin::Div, &b.values(), db),
            BinaryOp::Max => scaled(Bin::Mul, &selector(out, a).values(), od),
            BinaryOp::Pow => match constant_exponent(b).map(|e| (e.to_f64(), e)) {
                // squares (the common case): g * (a * 2), the forward rule's expression
                Some((2.0, _)) if da == od => {
                    Grad::new(T::deriv_vec(vmath::Deriv::Square, gs, &a.values()), od)
                }
                Some((2.0, two)) => Grad::new(
                    zip_with(gs, od, &a.values(), da, od, |g, x| g * (x * two)),
                    od,
                ),
                // one pass for a constant exponent: g * (a**(e-1) * e), as the forward rule
                Some((_, e)) => Grad::new(
                    zip_with(gs, od, &a.values(), da, od, move |g, x| {
                        g * (power(x, e - T::ONE) * e)
                    }),
                    od,
                ),
                None => {
                    let d = with_values2(a, b, |va, vb| {
                        zip_with(va, da, vb, db, od, |x, y| y * power(x, y - T::ONE))
                    });
                    scaled(Bin::Mul, &d, od)
                }
            },
        });
        let right = wants[1].then(|| match self.op {
            BinaryOp::Add => g.clone(),
            BinaryOp::Sub => Grad::new(pool::collect(gs.len(), gs.iter().map(|&v| -v)), od),
            BinaryOp::Mul => scaled(Bin::Mul, &a.values(), da),
            BinaryOp::Max => scaled(Bin::Mul, &selector(out, b).values(), od),
            BinaryOp::Div if db == od => {
                Grad::new(T::div_grad_vec(gs, &out.values(), &b.values()), od)
            }
            BinaryOp::Div => {
                // -(g * c) / y, the forward rule's expression
                let gc = T::binary_vec(Bin::Mul, gs, od, &out.values(), od, od);
                let q = T::binary_vec(Bin::Div, &gc, od, &b.values(), db, od);
                Grad::new(pool::collect(q.len(), q.iter().map(|&v| -v)), od)
            }
            BinaryOp::Pow => {
                // (g * ln a) * c with vmath's ln: the forward rule's expression
                let ln_a = T::eval_vec(vmath::Func::Ln, &a.values());
                let gl = T::binary_vec(Bin::Mul, gs, od, &ln_a, da, od);
                Grad::new(T::binary_vec(Bin::Mul, &gl, od, &out.values(), od, od), od)
            }
        });
        Ok(vec![left, right])
    }
}

// ---- array (op) array -------------------------------------------------------------------------

/// `a + b` (`add`).
pub fn add<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary_named(BinaryOp::Add, "add", a, b)
}
/// `a - b` (`subtract`).
pub fn sub<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary_named(BinaryOp::Sub, "subtract", a, b)
}
/// `a * b` (`multiply`).
pub fn mul<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary_named(BinaryOp::Mul, "multiply", a, b)
}
/// `a / b` (`divide`).
pub fn div<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary_named(BinaryOp::Div, "divide", a, b)
}
/// `a ** b` element-wise (`power`).
pub fn pow<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary_named(BinaryOp::Pow, "power", a, b)
}
/// `max(a, b)` element-wise (`max`).
pub fn max<T: Real>(a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary_named(BinaryOp::Max, "max", a, b)
}
/// `-a` (`negate`).
pub fn neg<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    unary::unary(unary::UnaryOp::Neg, a)
}

/// `a op b` for any [`BinaryOp`] with the array-array name.
pub fn binary<T: Real>(op: BinaryOp, a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
    binary_named(op, op.name(), a, b)
}

// ---- array (op) real scalar -------------------------------------------------------------------

/// `a op s`: diffstruc's `add_scalar`, `subtract_scalar`, `multiply_scalar`, `divide_scalar`
/// (computed as `a * (1/s)`, as diffstruc does), `power_scalar`, `max_scalar`.
pub fn binary_scalar<T: Real>(op: BinaryOp, a: &Tensor<T>, s: T) -> Result<Tensor<T>> {
    match op {
        BinaryOp::Add => binary_named(op, "add", a, &Tensor::scalar(s)),
        BinaryOp::Sub => binary_named(op, "subtract_scalar", a, &Tensor::scalar(s)),
        BinaryOp::Mul => binary_named(op, "multiply_scalar", a, &Tensor::scalar(s)),
        BinaryOp::Div => binary_named(
            BinaryOp::Mul,
            "divide_scalar",
            a,
            &Tensor::scalar(T::ONE / s),
        ),
        BinaryOp::Pow => binary_named(op, "power_scalar", a, &Tensor::scalar(s)),
        BinaryOp::Max => binary_named(op, "max_scalar", a, &Tensor::scalar(s)),
    }
}

/// `s op a`: the real scalar on the left (`scalar_divide`, `scalar_power`, …). The constant is
/// the left operand, as in diffstruc.
pub fn scalar_binary<T: Real>(op: BinaryOp, s: T, a: &Tensor<T>) -> Result<Tensor<T>> {
    let c = Tensor::scalar(s);
    match op {
        BinaryOp::Add => binary_named(op, "add", a, &c),
        BinaryOp::Mul => binary_named(op, "multiply_scalar", a, &c),
        BinaryOp::Max => binary_named(op, "max_scalar", a, &c),
        BinaryOp::Sub => binary_named(op, "subtract_scalar", &c, a),
        BinaryOp::Div => binary_named(op, "scalar_divide", &c, a),
        BinaryOp::Pow => binary_named(op, "scalar_power", &c, a),
    }
}

/// `a + s`.
pub fn add_scalar<T: Real>(a: &Tensor<T>, s: T) -> Result<Tensor<T>> {
    binary_scalar(BinaryOp::Add, a, s)
}
/// `a - s`.
pub fn sub_scalar<T: Real>(a: &Tensor<T>, s: T) -> Result<Tensor<T>> {
    binary_scalar(BinaryOp::Sub, a, s)
}
/// `a * s`.
pub fn mul_scalar<T: Real>(a: &Tensor<T>, s: T) -> Result<Tensor<T>> {
    binary_scalar(BinaryOp::Mul, a, s)
}
/// `a / s`.
pub fn div_scalar<T: Real>(a: &Tensor<T>, s: T) -> Result<Tensor<T>> {
    binary_scalar(BinaryOp::Div, a, s)
}
/// `a ** s`.
pub fn pow_scalar<T: Real>(a: &Tensor<T>, s: T) -> Result<Tensor<T>> {
    binary_scalar(BinaryOp::Pow, a, s)
}
/// `s - a`.
pub fn scalar_sub<T: Real>(s: T, a: &Tensor<T>) -> Result<Tensor<T>> {
    scalar_binary(BinaryOp::Sub, s, a)
}
/// `s / a`.
pub fn scalar_div<T: Real>(s: T, a: &Tensor<T>) -> Result<Tensor<T>> {
    scalar_binary(BinaryOp::Div, s, a)
}

// ---- array (op) real 1-D / 2-D arrays ---------------------------------------------------------

/// `a op v` with a real vector, with diffstruc's meaning of the vector for each operator:
/// `+` adds a per-element vector (length `E`) to every sample; `-` and `/` apply a per-sample
/// value (length `S`) to every element of that sample. Other operators are not defined.
pub fn binary_real1d<T: Real>(op: BinaryOp, a: &Tensor<T>, v: &[T]) -> Result<Tensor<T>> {
    let d = a.dims();
    let (name, want, shape, batch) = match op {
        BinaryOp::Add => ("add", d.elems, vec![d.elems], 1),
        BinaryOp::Sub => ("subtract_scalar", d.batch, vec![1], d.batch),
        BinaryOp::Div => ("divide_real1d", d.batch, vec![1], d.batch),
        _ => {
            return Err(Error::argument(format!(
                "{}: no form with a 1-D real array",
                op.name()
            )))
        }
    };
    if v.len() != want {
        // named after the operator the program wrote, not diffstruc's node name
        let per = if op == BinaryOp::Add {
            "one value per element"
        } else {
            "one value per sample"
        };
        return Err(Error::shape(format!(
            "{}: the 1-D real operand has length {}, expected {want} ({per}) for an array {}",
            op.name(),
            v.len(),
            describe(a)
        )));
    }
    let c = Tensor::constant(&shape, batch, pool::copy(v), batch > 1, false);
    binary_named(op, name, a, &c)
}

/// `a op m` with a real matrix `m` of `rows x cols` (column-major) that must equal `a`'s
/// storage extents `(E, S)`: `+` (`add`), `-` (`subtract_scalar`), `*` (`multiply_real2d`).
pub fn binary_real2d<T: Real>(
    op: BinaryOp,
    a: &Tensor<T>,
    m: &[T],
    rows: usize,
    cols: usize,
) -> Result<Tensor<T>> {
    let name = match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "subtract_scalar",
        BinaryOp::Mul => "multiply_real2d",
        _ => {
            return Err(Error::argument(format!(
                "{}: no form with a 2-D real array",
                op.name()
            )))
        }
    };
    let c = real2d_constant(op.name(), a, m, rows, cols)?;
    binary_named(op, name, a, &c)
}

/// `m op a` with a real matrix on the left: `+` and `*` (same as `a op m`).
pub fn real2d_binary<T: Real>(
    op: BinaryOp,
    m: &[T],
    rows: usize,
    cols: usize,
    a: &Tensor<T>,
) -> Result<Tensor<T>> {
    match op {
        BinaryOp::Add | BinaryOp::Mul => binary_real2d(op, a, m, rows, cols),
        _ => Err(Error::argument(format!(
            "{}: no form with a 2-D real array on the left",
            op.name()
        ))),
    }
}

fn real2d_constant<T: Real>(
    name: &str,
    a: &Tensor<T>,
    m: &[T],
    rows: usize,
    cols: usize,
) -> Result<Tensor<T>> {
    let d = a.dims();
    if rows != d.elems || cols != d.batch || m.len() != rows.saturating_mul(cols) {
        return Err(Error::shape(format!(
            "{name}: the 2-D real operand is {rows}x{cols} ({} values), expected {}x{} for an array {}",
            m.len(),
            d.elems,
            d.batch,
            describe(a)
        )));
    }
    Ok(Tensor::constant(
        &[rows],
        cols,
        pool::copy(m),
        cols > 1,
        false,
    ))
}

/// Values of `sign(s, a)` (Fortran's `sign`: `|s|` with the sign of each element). Plain values,
/// not a graph: this is not differentiable.
pub fn sign<T: Real>(s: T, a: &Tensor<T>) -> Tensor<T> {
    let v = a.values();
    let data = pool::collect(v.len(), v.iter().map(|&x| s.abs().copysign(x)));
    drop(v);
    Tensor::constant(
        a.shape(),
        a.batch(),
        data,
        a.is_sample_dependent(),
        a.is_scalar(),
    )
}
