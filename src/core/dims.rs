//! Storage<T> extents `(elements, batch)` and the broadcasting rules between them.
//!
//! Values are stored column-major as `(E, S)`: `E` elements per sample (the product of the
//! per-sample shape) and `S` samples. Binary operations broadcast along each extent
//! independently: the extents must be equal, or one of them must be 1 (a per-sample scalar, or
//! a single sample shared by the whole batch, e.g. a weight with `is_sample_dependent = false`).

use super::pool;
use super::real::Real;

/// Storage<T> extents of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dims {
    /// Elements per sample (`E`).
    pub elems: usize,
    /// Number of samples (`S`).
    pub batch: usize,
}

impl Dims {
    /// Creates extents.
    pub const fn new(elems: usize, batch: usize) -> Self {
        Dims { elems, batch }
    }
    /// Total number of values, `E * S`.
    pub const fn len(self) -> usize {
        self.elems * self.batch
    }
    /// True when there are no values.
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
    /// The broadcast of two extents, or `None` if they are incompatible.
    pub fn broadcast(self, other: Dims) -> Option<Dims> {
        Some(Dims {
            elems: bcast1(self.elems, other.elems)?,
            batch: bcast1(self.batch, other.batch)?,
        })
    }
    /// True when `self` can be broadcast to `to` (and so a gradient of extents `to` can be
    /// summed back to `self`).
    pub fn broadcasts_to(self, to: Dims) -> bool {
        (self.elems == to.elems || self.elems == 1) && (self.batch == to.batch || self.batch == 1)
    }
}

fn bcast1(a: usize, b: usize) -> Option<usize> {
    if a == b || b == 1 {
        Some(a)
    } else if a == 1 {
        Some(b)
    } else {
        None
    }
}

/// A run of output values that element-wise kernels compute in one call: `len` values from
/// offset `out`, reading `a` and `b` from their offsets, where an operand marked `*_one` is one
/// value repeated (a broadcast extent).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    pub(crate) a: usize,
    pub(crate) a_one: bool,
    pub(crate) b: usize,
    pub(crate) b_one: bool,
    pub(crate) out: usize,
    pub(crate) len: usize,
}

/// The blocks of a broadcast binary operation from extents `da` and `db` to `out`: the whole
/// buffer at once when an operand is either full or a single value, else one block per sample.
/// (The one place where broadcasting is spelled out for element-wise kernels.)
pub(crate) fn blocks(da: Dims, db: Dims, out: Dims) -> impl Iterator<Item = Block> {
    let whole = if da == out && db == out {
        Some((false, false))
    } else if db.len() == 1 && da == out {
        Some((false, true))
    } else if da.len() == 1 && db == out {
        Some((true, false))
    } else {
        None
    };
    let count = if whole.is_some() { 1 } else { out.batch };
    (0..count).map(move |s| match whole {
        Some((a_one, b_one)) => Block {
            a: 0,
            a_one,
            b: 0,
            b_one,
            out: 0,
            len: out.len(),
        },
        None => {
            let col = |d: Dims| if d.batch == 1 { 0 } else { s * d.elems };
            Block {
                a: col(da),
                a_one: da.elems != out.elems,
                b: col(db),
                b_one: db.elems != out.elems,
                out: s * out.elems,
                len: out.elems,
            }
        }
    })
}

/// Applies `f` element-wise to two broadcast-compatible buffers, producing extents `out`.
/// (The arithmetic operations use the vectorised kernels of [`crate::ops::vmath`]; this serves
/// other rules.)
pub(crate) fn zip_with<T: Real>(
    a: &[T],
    da: Dims,
    b: &[T],
    db: Dims,
    out: Dims,
    f: impl Fn(T, T) -> T,
) -> Vec<T> {
    let mut v = pool::with_capacity(out.len());
    // the whole-buffer forms directly (small arrays: no block iterator)
    if da == out && db == out {
        v.extend(a.iter().zip(b).map(|(&x, &y)| f(x, y)));
        return v;
    } else if db.len() == 1 && da == out {
        v.extend(a.iter().map(|&x| f(x, b[0])));
        return v;
    } else if da.len() == 1 && db == out {
        v.extend(b.iter().map(|&y| f(a[0], y)));
        return v;
    }
    for blk in blocks(da, db, out) {
        let (a, b) = (&a[blk.a..], &b[blk.b..]);
        match (blk.a_one, blk.b_one) {
            (false, false) => v.extend(a[..blk.len].iter().zip(b).map(|(&x, &y)| f(x, y))),
            (false, true) => v.extend(a[..blk.len].iter().map(|&x| f(x, b[0]))),
            (true, false) => v.extend(b[..blk.len].iter().map(|&y| f(a[0], y))),
            (true, true) => v.extend(std::iter::repeat_n(f(a[0], b[0]), blk.len)),
        }
    }
    v
}

/// Sample `s` of a buffer with extents `d`, or sample 0 if `d` has a single sample.
pub(crate) fn column<T: Real>(x: &[T], d: Dims, s: usize) -> &[T] {
    let s = if d.batch == 1 { 0 } else { s };
    &x[s * d.elems..(s + 1) * d.elems]
}

/// Repeats a buffer of extents `from` to the larger extents `to` (`from.broadcasts_to(to)`).
pub(crate) fn expand<T: Real>(x: &[T], from: Dims, to: Dims) -> Vec<T> {
    if from == to {
        return pool::copy(x);
    }
    let mut v = pool::with_capacity(to.len());
    for s in 0..to.batch {
        let c = column(x, from, s);
        if from.elems == to.elems {
            v.extend_from_slice(c);
        } else {
            v.extend(std::iter::repeat_n(c[0], to.elems));
        }
    }
    v
}

/// Sums a buffer of extents `from` down to extents `to` along every broadcast axis: the adjoint
/// of [`expand`]. Sums run in storage order in T, as Fortran's `sum` intrinsic does.
pub(crate) fn reduce_to<T: Real>(g: &[T], from: Dims, to: Dims) -> Vec<T> {
    if from == to {
        return pool::copy(g);
    }
    let mut v = pool::filled(to.len(), T::ZERO);
    for s in 0..from.batch {
        let src = &g[s * from.elems..(s + 1) * from.elems];
        let ts = if to.batch == 1 { 0 } else { s };
        let dst = &mut v[ts * to.elems..(ts + 1) * to.elems];
        if to.elems == from.elems {
            dst.iter_mut().zip(src).for_each(|(d, &x)| *d += x);
        } else {
            dst[0] += src.iter().fold(T::ZERO, |acc, &x| acc + x);
        }
    }
    v
}
