//! Storage extents `(elements, batch)` and the broadcasting rules between them.
//!
//! Values are stored column-major as `(E, S)`: `E` elements per sample (the product of the
//! per-sample shape) and `S` samples. Binary operations broadcast along each extent
//! independently: the extents must be equal, or one of them must be 1 (a per-sample scalar, or
//! a single sample shared by the whole batch, e.g. a weight with `is_sample_dependent = false`).

use super::pool;

/// Storage extents of an array.
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

/// Applies `f` element-wise to two broadcast-compatible buffers, producing extents `out`.
pub(crate) fn zip_with(
    a: &[f32],
    da: Dims,
    b: &[f32],
    db: Dims,
    out: Dims,
    f: impl Fn(f32, f32) -> f32,
) -> Vec<f32> {
    let mut v = pool::with_capacity(out.len());
    if da == out && db == out {
        v.extend(a.iter().zip(b).map(|(&x, &y)| f(x, y)));
    } else if db.len() == 1 && da == out {
        let y = b[0];
        v.extend(a.iter().map(|&x| f(x, y)));
    } else if da.len() == 1 && db == out {
        let x = a[0];
        v.extend(b.iter().map(|&y| f(x, y)));
    } else {
        for s in 0..out.batch {
            let ca = column(a, da, s);
            let cb = column(b, db, s);
            match (ca.len() == out.elems, cb.len() == out.elems) {
                (true, true) => v.extend(ca.iter().zip(cb).map(|(&x, &y)| f(x, y))),
                (true, false) => {
                    let y = cb[0];
                    v.extend(ca.iter().map(|&x| f(x, y)))
                }
                (false, true) => {
                    let x = ca[0];
                    v.extend(cb.iter().map(|&y| f(x, y)))
                }
                (false, false) => {
                    let (x, y) = (ca[0], cb[0]);
                    v.extend(std::iter::repeat_n(f(x, y), out.elems))
                }
            }
        }
    }
    v
}

/// Sample `s` of a buffer with extents `d`, or sample 0 if `d` has a single sample.
pub(crate) fn column(x: &[f32], d: Dims, s: usize) -> &[f32] {
    let s = if d.batch == 1 { 0 } else { s };
    &x[s * d.elems..(s + 1) * d.elems]
}

/// Repeats a buffer of extents `from` to the larger extents `to` (`from.broadcasts_to(to)`).
pub(crate) fn expand(x: &[f32], from: Dims, to: Dims) -> Vec<f32> {
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
/// of [`expand`]. Sums run in storage order in f32, as Fortran's `sum` intrinsic does.
pub(crate) fn reduce_to(g: &[f32], from: Dims, to: Dims) -> Vec<f32> {
    if from == to {
        return pool::copy(g);
    }
    let mut v = pool::filled(to.len(), 0.0);
    for s in 0..from.batch {
        let src = &g[s * from.elems..(s + 1) * from.elems];
        let ts = if to.batch == 1 { 0 } else { s };
        let dst = &mut v[ts * to.elems..(ts + 1) * to.elems];
        if to.elems == from.elems {
            dst.iter_mut().zip(src).for_each(|(d, &x)| *d += x);
        } else {
            dst[0] += src.iter().fold(0.0f32, |acc, &x| acc + x);
        }
    }
    v
}
