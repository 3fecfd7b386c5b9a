//! Data movement and selection: `spread`, `unspread`, the padded `sum`, `concat`, `slice_*`,
//! `ltrim`/`rtrim`, `.index.`, `reverse_index`, `pack`, `unpack`, `reshape` and `merge`.
//!
//! Every one of them is linear and moves values without arithmetic, so all are instances of one
//! operation, [`Route`], with an index map computed when the node is built:
//! * a *gather* sets each output value to one input value (or zero);
//! * a *scatter* adds each input value into one output value.
//!
//! The two are each other's adjoint, and each is its own forward rule, so one kernel pair gives
//! the values and both modes to any order. Positions (`index`, `indices`, …) are 1-based and
//! `dim` is the storage dimension (1: the elements of a sample, 2: the batch), as in diffstruc.

use std::sync::Arc;

use super::reduce::Axis;
use super::{describe, Operation};
use crate::core::alloc;
use crate::core::small::Inputs;
use crate::core::tensor::checked_dims;
use crate::core::{pool, Error, Flags, Grad, OpRef, Real, Result, Tensor, Values};

/// Map entry for "no source": the output value is zero (gather) or the input is dropped
/// (scatter).
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `out[o] = inputs[map[o]]`, the inputs read as one concatenated vector.
    Gather,
    /// `out[map[i]] += input[i]` (one input).
    Scatter,
}

/// A linear value-moving operation described by an index map.
struct Route {
    name: &'static str,
    kind: Kind,
    /// (an `Arc<Vec>`, not an `Arc<[u32]>`: converting a vector to the latter copies it with an
    /// allocation that aborts when it fails)
    map: Arc<Vec<u32>>,
}

/// Read access to several inputs at once (an input may appear twice, as in `concat(a, a)`).
struct Reads<'a, T: Real> {
    guards: Vec<Values<'a, T>>,
    slot: Vec<usize>,
}

impl<'a, T: Real> Reads<'a, T> {
    fn new(inputs: &'a [Tensor<T>]) -> Self {
        let mut guards = Vec::with_capacity(inputs.len());
        let mut slot = Vec::with_capacity(inputs.len());
        for (i, t) in inputs.iter().enumerate() {
            match inputs[..i].iter().position(|u| u.same(t)) {
                Some(j) => slot.push(slot[j]),
                None => {
                    slot.push(guards.len());
                    guards.push(t.values());
                }
            }
        }
        Reads { guards, slot }
    }
    fn get(&self, i: usize) -> &[T] {
        &self.guards[self.slot[i]]
    }
}

/// Start of each input in the concatenated input vector, plus the total.
fn offsets<T: Real>(inputs: &[Tensor<T>]) -> Vec<usize> {
    let mut off = Vec::with_capacity(inputs.len() + 1);
    let mut n = 0;
    for t in inputs {
        off.push(n);
        n += t.dims().len();
    }
    off.push(n);
    off
}

/// Which input a position of the concatenated vector belongs to.
fn owner(off: &[usize], m: usize) -> usize {
    off[1..].iter().position(|&end| m < end).unwrap_or(0)
}

impl Route {
    fn values<T: Real>(&self, out_len: usize, inputs: &[Tensor<T>]) -> Vec<T> {
        let reads = Reads::new(inputs);
        match self.kind {
            Kind::Gather => {
                let off = offsets(inputs);
                if inputs.len() == 1 {
                    let x = reads.get(0);
                    pool::collect(
                        self.map.len(),
                        self.map
                            .iter()
                            .map(|&m| if m == NONE { T::ZERO } else { x[m as usize] }),
                    )
                } else {
                    pool::collect(
                        self.map.len(),
                        self.map.iter().map(|&m| {
                            if m == NONE {
                                return T::ZERO;
                            }
                            let m = m as usize;
                            let k = owner(&off, m);
                            reads.get(k)[m - off[k]]
                        }),
                    )
                }
            }
            Kind::Scatter => {
                let mut out = pool::filled(out_len, T::ZERO);
                for (&m, &v) in self.map.iter().zip(reads.get(0)) {
                    if m != NONE {
                        out[m as usize] += v;
                    }
                }
                out
            }
        }
    }

    /// Builds the node `self(inputs)` with the given per-sample shape and batch.
    ///
    /// Errors: out of memory (the message names the operation and its inputs).
    fn apply<T: Real>(
        self,
        shape: &[usize],
        batch: usize,
        flags: Flags,
        inputs: Inputs<T>,
    ) -> Result<Tensor<T>> {
        let data = {
            let list: Vec<&Tensor<T>> = inputs.iter().collect();
            alloc::guard_op(self.name, &list, || {
                let len =
                    alloc::checked_len(|| self.name.to_string(), &[shape.iter().product(), batch])?;
                Ok(self.values(len, inputs.as_slice()))
            })?
        };
        Ok(Tensor::from_op(
            shape,
            batch,
            data,
            flags,
            OpRef::Shared(Arc::new(self)),
            inputs,
        ))
    }
}

impl<T: Real> Operation<T> for Route {
    fn name(&self) -> &str {
        self.name
    }
    fn saved_for(&self, _: usize) -> u64 {
        0
    }

    fn jvp(
        &self,
        out: &Tensor<T>,
        inputs: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        let route = if t.iter().all(Option::is_some) {
            Route {
                name: self.name,
                kind: self.kind,
                map: self.map.clone(),
            }
        } else {
            // Only a gather has several inputs: read zeros where an input has no tangent.
            let off = offsets(inputs);
            let mut new_off = Vec::with_capacity(inputs.len());
            let mut n = 0u32;
            for (i, ti) in t.iter().enumerate() {
                new_off.push(ti.as_ref().map(|_| n));
                n += ti.as_ref().map_or(0, |_| inputs[i].dims().len() as u32);
            }
            let map = alloc::vec_from(self.map.iter().map(|&m| {
                if m == NONE {
                    return NONE;
                }
                let k = owner(&off, m as usize);
                new_off[k].map_or(NONE, |o| o + (m - off[k] as u32))
            }))
            .into();
            Route {
                name: self.name,
                kind: self.kind,
                map,
            }
        };
        let tangents: Vec<Tensor<T>> = t.iter().flatten().cloned().collect();
        route
            .apply(
                out.shape(),
                out.batch(),
                out.flags(),
                Inputs::from_vec(tangents),
            )
            .map(Some)
    }

    fn vjp(
        &self,
        _: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        wants: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        let up = g.as_slice();
        match self.kind {
            Kind::Gather => {
                let off = offsets(x);
                let mut grads: Vec<Option<Vec<T>>> = x
                    .iter()
                    .zip(wants)
                    .map(|(t, &w)| w.then(|| pool::filled(t.dims().len(), T::ZERO)))
                    .collect();
                for (&m, &v) in self.map.iter().zip(up) {
                    if m == NONE {
                        continue;
                    }
                    let m = m as usize;
                    let k = owner(&off, m);
                    if let Some(gk) = grads[k].as_mut() {
                        gk[m - off[k]] += v;
                    }
                }
                Ok(grads
                    .into_iter()
                    .zip(x)
                    .map(|(gk, t)| gk.map(|d| Grad::new(d, t.dims())))
                    .collect())
            }
            Kind::Scatter => {
                let data = pool::collect(
                    self.map.len(),
                    self.map
                        .iter()
                        .map(|&m| if m == NONE { T::ZERO } else { up[m as usize] }),
                );
                Ok(vec![Some(Grad::new(data, x[0].dims()))])
            }
        }
    }
}

/// `reshape`: the same values under another per-sample shape.
struct Reshape;

static RESHAPE: Reshape = Reshape;

impl<T: Real> Operation<T> for Reshape {
    fn name(&self) -> &str {
        "reshape"
    }
    fn saved_for(&self, _: usize) -> u64 {
        0
    }
    fn jvp(
        &self,
        out: &Tensor<T>,
        _: &[Tensor<T>],
        t: &[Option<Tensor<T>>],
    ) -> Result<Option<Tensor<T>>> {
        t[0].as_ref().map(|t| reshape(t, out.shape())).transpose()
    }
    fn vjp(
        &self,
        _: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        _: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        Ok(vec![Some(Grad::new(pool::copy(g.as_slice()), x[0].dims()))])
    }
}

// ---------------------------------------------------------------------------------------------
// Argument checks
// ---------------------------------------------------------------------------------------------

/// Prefixes an error from a shared helper with the operation's name.
fn in_op(op: &str, e: Error) -> Error {
    Error::new(e.kind(), format!("{op}: {}", e.message()))
}

fn arg_error(op: &str, what: String) -> Error {
    Error::argument(format!("{op}: {what}"))
}

/// A 1-based position in `1..=n`, as a 0-based offset.
fn position(op: &str, what: &str, p: usize, n: usize) -> Result<usize> {
    if p == 0 || p > n {
        return Err(arg_error(op, format!("{what} {p} is out of range 1..{n}")));
    }
    Ok(p - 1)
}

/// Every entry of `list` as a 0-based offset into `1..=n`.
fn positions(op: &str, list: &[usize], n: usize) -> Result<Vec<usize>> {
    list.iter()
        .enumerate()
        .map(|(i, &p)| {
            if p == 0 || p > n {
                Err(arg_error(
                    op,
                    format!(
                        "index {p} (entry {} of the list) is out of range 1..{n}",
                        i + 1
                    ),
                ))
            } else {
                Ok(p - 1)
            }
        })
        .collect()
}

fn positive(op: &str, what: &str, n: usize) -> Result<usize> {
    if n == 0 {
        return Err(arg_error(op, format!("{what} must be positive")));
    }
    Ok(n)
}

/// Checks that the map fits the 32-bit index type (4 G values).
fn fits(op: &str, n: usize) -> Result<()> {
    if n >= NONE as usize {
        return Err(arg_error(
            op,
            format!("{n} values is too many for this operation"),
        ));
    }
    Ok(())
}

fn flags(sample_dependent: bool) -> Flags {
    Flags {
        sample_dependent,
        scalar: false,
    }
}

/// Gather from `inputs` with `map` into a node of `shape` and `batch`.
fn gather<T: Real>(
    name: &'static str,
    map: Vec<u32>,
    shape: &[usize],
    batch: usize,
    sample_dependent: bool,
    inputs: Inputs<T>,
) -> Result<Tensor<T>> {
    checked_dims(shape, batch).map_err(|e| in_op(name, e))?;
    fits(name, map.len())?;
    fits(name, inputs.iter().map(|t| t.dims().len()).sum())?;
    let route = Route {
        name,
        kind: Kind::Gather,
        map: Arc::new(map),
    };
    route.apply(shape, batch, flags(sample_dependent), inputs)
}

/// Column `s` of `a`, or its only column when `a` is shared by the batch.
fn col<T: Real>(a: &Tensor<T>, s: usize) -> usize {
    if a.batch() == 1 {
        0
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Broadcast and its adjoint
// ---------------------------------------------------------------------------------------------

/// `spread(source, dim, index, ncopies)`: `dim = 1`: `ncopies` copies of element `index` of
/// each sample (shape `[ncopies]`); `dim = 2`: `ncopies` copies of sample `index` (the batch
/// becomes `ncopies`).
pub fn spread<T: Real>(
    source: &Tensor<T>,
    dim: i64,
    index: usize,
    ncopies: usize,
) -> Result<Tensor<T>> {
    const OP: &str = "spread";
    let axis = Axis::from_dim(dim, OP, source)?;
    let d = source.dims();
    positive(OP, "ncopies", ncopies)?;
    let out = match axis {
        Axis::Batch => checked_dims(source.shape(), ncopies),
        _ => checked_dims(&[ncopies], d.batch),
    };
    fits(OP, out.map_err(|e| in_op(OP, e))?.len())?;
    let u = |v: usize| v as u32;
    match axis {
        Axis::Batch => {
            let j = position(OP, "index (a sample)", index, d.batch)?;
            let map = alloc::collect(
                ncopies * d.elems,
                (0..ncopies).flat_map(|_| (0..d.elems).map(move |e| u(j * d.elems + e))),
            );
            gather(
                OP,
                map,
                source.shape(),
                ncopies,
                ncopies > 1 || source.is_sample_dependent(),
                Inputs::one(source.clone()),
            )
        }
        _ => {
            let i = position(OP, "index (an element)", index, d.elems)?;
            let map = alloc::collect(
                d.batch * ncopies,
                (0..d.batch).flat_map(|s| (0..ncopies).map(move |_| u(s * d.elems + i))),
            );
            gather(
                OP,
                map,
                &[ncopies],
                d.batch,
                source.is_sample_dependent(),
                Inputs::one(source.clone()),
            )
        }
    }
}

fn sum_into<T: Real>(
    op: &'static str,
    a: &Tensor<T>,
    dim: i64,
    index: usize,
    new_size: usize,
) -> Result<Tensor<T>> {
    let axis = Axis::from_dim(dim, op, a)?;
    let d = a.dims();
    positive(op, "the new size", new_size)?;
    let k = position(op, "index", index, new_size)?;
    let (shape, batch, map): (Vec<usize>, usize, Vec<u32>) = match axis {
        Axis::Batch => (
            a.shape().to_vec(),
            new_size,
            alloc::vec_from((0..d.len()).map(|i| (k * d.elems + i % d.elems) as u32)),
        ),
        _ => (
            vec![new_size],
            d.batch,
            alloc::vec_from((0..d.len()).map(|i| ((i / d.elems) * new_size + k) as u32)),
        ),
    };
    checked_dims(&shape, batch).map_err(|e| in_op(op, e))?;
    fits(op, d.len())?;
    let sd = match axis {
        Axis::Batch => new_size > 1,
        _ => a.is_sample_dependent(),
    };
    let route = Route {
        name: op,
        kind: Kind::Scatter,
        map: Arc::new(map),
    };
    route.apply(&shape, batch, flags(sd), Inputs::one(a.clone()))
}

/// `unspread(source, index, dim, new_size)`, the adjoint of `spread`: `dim = 1`: shape
/// `[new_size]`, zeros except element `index` = the sum of each sample; `dim = 2`: batch
/// `new_size`, zeros except sample `index` = the sum over the batch.
pub fn unspread<T: Real>(
    source: &Tensor<T>,
    index: usize,
    dim: i64,
    new_size: usize,
) -> Result<Tensor<T>> {
    sum_into("unspread", source, dim, index, new_size)
}

/// `sum(a, dim, new_dim_index, new_dim_size)` (`sum_and_pad_array`): the sum along `dim`
/// placed at position `new_dim_index` of a new dimension of size `new_dim_size`, zeros
/// elsewhere.
pub fn sum_pad<T: Real>(
    a: &Tensor<T>,
    dim: i64,
    new_dim_index: usize,
    new_dim_size: usize,
) -> Result<Tensor<T>> {
    sum_into("sum_and_pad_array", a, dim, new_dim_index, new_dim_size)
}

// ---------------------------------------------------------------------------------------------
// Joining and cutting
// ---------------------------------------------------------------------------------------------

/// `concat(a, b, dim)`: `dim = 1` joins the samples along their last dimension (the other
/// dimensions must agree); `dim = 2` joins the batches (same per-sample size).
pub fn concat<T: Real>(a: &Tensor<T>, b: &Tensor<T>, dim: i64) -> Result<Tensor<T>> {
    const OP: &str = "concat";
    let axis = Axis::from_dim(dim, OP, a)?;
    let (da, db) = (a.dims(), b.dims());
    let off_b = da.len();
    let sd = a.is_sample_dependent() || b.is_sample_dependent();
    let inputs = Inputs::two(a.clone(), b.clone());
    match axis {
        Axis::Batch => {
            if da.elems != db.elems {
                return Err(Error::shape(format!(
                    "{OP}: arrays must have the same size in non-concat dimension: {} and {}",
                    describe(a),
                    describe(b)
                )));
            }
            let batch = da.batch + db.batch;
            let map = alloc::vec_from(
                (0..da.len())
                    .chain(off_b..off_b + db.len())
                    .map(|m| m as u32),
            );
            gather(OP, map, a.shape(), batch, true, inputs)
        }
        _ => {
            // a per-sample scalar (rank 0) joins as a vector of one
            let as_vector = |t: &Tensor<T>| -> Vec<usize> {
                if t.shape().is_empty() {
                    vec![1]
                } else {
                    t.shape().to_vec()
                }
            };
            let (sa, sb) = (as_vector(a), as_vector(b));
            let n = sa.len();
            if n != sb.len() {
                return Err(Error::shape(format!(
                    "{OP}: arrays must have the same number of dimensions: {} and {}",
                    describe(a),
                    describe(b)
                )));
            }
            let batch = match (da.batch, db.batch) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => {
                    return Err(Error::shape(format!(
                        "{OP}: arrays must have the same batch size: {} and {}",
                        describe(a),
                        describe(b)
                    )))
                }
            };
            if sa[..n - 1] != sb[..n - 1] {
                return Err(Error::shape(format!(
                    "{OP}: arrays must have the same size in non-concat dimension: {} and {}",
                    describe(a),
                    describe(b)
                )));
            }
            let mut shape = sa.clone();
            shape[n - 1] += sb[n - 1];
            let mut map = alloc::with_capacity(alloc::checked_len(
                || OP.to_string(),
                &[da.elems.saturating_add(db.elems), batch],
            )?);
            for s in 0..batch {
                let ca = col(a, s) * da.elems;
                let cb = off_b + col(b, s) * db.elems;
                map.extend((ca..ca + da.elems).map(|m| m as u32));
                map.extend((cb..cb + db.elems).map(|m| m as u32));
            }
            gather(OP, map, &shape, batch, sd, inputs)
        }
    }
}

/// The `count` consecutive positions from `start` along `dim`.
fn slice<T: Real>(
    name: &'static str,
    a: &Tensor<T>,
    axis: Axis,
    start: usize,
    count: usize,
) -> Result<Tensor<T>> {
    let d = a.dims();
    let u = |v: usize| v as u32;
    match axis {
        Axis::Batch => {
            let map = alloc::vec_from((start * d.elems..(start + count) * d.elems).map(u));
            gather(
                name,
                map,
                a.shape(),
                count,
                a.is_sample_dependent(),
                Inputs::one(a.clone()),
            )
        }
        _ => {
            let map = alloc::collect(
                d.batch * count,
                (0..d.batch)
                    .flat_map(|s| (s * d.elems + start..s * d.elems + start + count).map(u)),
            );
            gather(
                name,
                map,
                &[count],
                d.batch,
                a.is_sample_dependent(),
                Inputs::one(a.clone()),
            )
        }
    }
}

/// Extent of `a` along a storage dimension.
fn extent<T: Real>(a: &Tensor<T>, axis: Axis) -> usize {
    match axis {
        Axis::Batch => a.batch(),
        _ => a.elems(),
    }
}

/// Which end a slice keeps, and whether its count says what to keep or what to drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// `slice_left(a, b, dim)`: the first `b`.
    SliceLeft,
    /// `slice_right(a, b, dim)`: the last `b`.
    SliceRight,
    /// `ltrim(a, b, dim)`: all but the first `b`.
    LTrim,
    /// `rtrim(a, b, dim)`: all but the last `b`.
    RTrim,
}

/// `slice_left`, `slice_right`, `ltrim` or `rtrim` of `a` by `b` along `dim` (1: the elements of
/// each sample, result shape `[count]`; 2: the batch).
pub fn cut<T: Real>(kind: Cut, a: &Tensor<T>, b: usize, dim: i64) -> Result<Tensor<T>> {
    let op = match kind {
        Cut::SliceLeft => "slice_left",
        Cut::SliceRight => "slice_right",
        Cut::LTrim => "ltrim",
        Cut::RTrim => "rtrim",
    };
    let axis = Axis::from_dim(dim, op, a)?;
    let n = extent(a, axis);
    let keep = match kind {
        Cut::SliceLeft | Cut::SliceRight => b,
        Cut::LTrim | Cut::RTrim => n.saturating_sub(b),
    };
    if keep == 0 || keep > n {
        return Err(arg_error(
            op,
            format!(
                "cannot keep {keep} of {n} along dim {dim} (b = {b}) of an array {}",
                describe(a)
            ),
        ));
    }
    match kind {
        Cut::SliceLeft | Cut::RTrim => slice("slice_left", a, axis, 0, keep),
        Cut::SliceRight | Cut::LTrim => slice("slice_right", a, axis, n - keep, keep),
    }
}

// ---------------------------------------------------------------------------------------------
// Selecting samples and elements
// ---------------------------------------------------------------------------------------------

/// Gathers whole samples: sample `s` of the result is sample `from[s]` (0-based) of `a`, or
/// zeros where `from[s]` is `None`.
fn samples<T: Real>(
    name: &'static str,
    a: &Tensor<T>,
    from: &[Option<usize>],
    shape: &[usize],
) -> Result<Tensor<T>> {
    let e = a.elems();
    positive(name, "the number of samples", from.len())?;
    let map = alloc::collect(
        alloc::checked_len(|| name.to_string(), &[from.len(), e])?,
        from.iter()
            .flat_map(|f| (0..e).map(move |i| f.map_or(NONE, |j| (j * e + i) as u32))),
    );
    gather(name, map, shape, from.len(), true, Inputs::one(a.clone()))
}

/// `a .index. indices`: sample `s` of the result is sample `indices(s)` of `a`.
pub fn index<T: Real>(a: &Tensor<T>, indices: &[usize]) -> Result<Tensor<T>> {
    let from = positions("index", indices, a.batch())?;
    let from: Vec<_> = alloc::vec_from(from.into_iter().map(Some));
    samples("index", a, &from, &[a.elems()])
}

/// `reverse_index(a, indices, from, new_index_size)`: a batch of `new_index_size` samples, zeros
/// except: with `from`, sample `s` = sample `indices(s)` of `a` (gather); without, sample
/// `indices(s)` = sample `s` of `a` (scatter; for repeated indices the last one wins).
pub fn reverse_index<T: Real>(
    a: &Tensor<T>,
    indices: &[usize],
    from: bool,
    new_index_size: usize,
) -> Result<Tensor<T>> {
    const OP: &str = "reverse_index";
    positive(OP, "new_index_size", new_index_size)?;
    fits(
        OP,
        checked_dims(&[a.elems()], new_index_size)
            .map_err(|e| in_op(OP, e))?
            .len(),
    )?;
    let sa = a.batch();
    let mut src = alloc::filled(new_index_size, None);
    if from {
        if indices.len() > new_index_size {
            return Err(arg_error(
                OP,
                format!(
                    "{} indices do not fit in new_index_size {new_index_size}",
                    indices.len()
                ),
            ));
        }
        for (s, j) in positions(OP, indices, sa)?.into_iter().enumerate() {
            src[s] = Some(j);
        }
    } else {
        if indices.len() > sa {
            return Err(arg_error(
                OP,
                format!(
                    "{} indices for an array of {sa} samples ({})",
                    indices.len(),
                    describe(a)
                ),
            ));
        }
        for (s, j) in positions(OP, indices, new_index_size)?
            .into_iter()
            .enumerate()
        {
            src[j] = Some(s);
        }
    }
    samples("index", a, &src, &[a.elems()])
}

/// `pack(a, dim, mask)` (`pack_mask`): `dim = 1` keeps the elements where `mask` (length E) is
/// true, shape `[count]`; `dim = 2` keeps the samples where `mask` (length S) is true. Without a
/// mask, a copy (shape `[E]` for `dim = 1`).
pub fn pack_mask<T: Real>(a: &Tensor<T>, dim: i64, mask: Option<&[bool]>) -> Result<Tensor<T>> {
    const OP: &str = "pack_mask";
    let axis = Axis::from_dim(dim, OP, a)?;
    let n = extent(a, axis);
    let keep: Vec<usize> = match mask {
        Some(m) if m.len() != n => {
            return Err(Error::shape(format!(
                "{OP}: mask has {} entries, dim {dim} of the array {} has {n}",
                m.len(),
                describe(a)
            )))
        }
        Some(m) => alloc::vec_from((0..n).filter(|&i| m[i])),
        None => alloc::vec_from(0..n),
    };
    if keep.is_empty() {
        return Err(arg_error(
            OP,
            "the mask selects nothing (empty arrays are not supported)".into(),
        ));
    }
    select(OP, a, axis, &keep, a.shape())
}

/// Gathers positions `keep` (0-based) along `dim`.
/// A batch selection gets per-sample shape `batch_shape`.
fn select<T: Real>(
    name: &'static str,
    a: &Tensor<T>,
    axis: Axis,
    keep: &[usize],
    batch_shape: &[usize],
) -> Result<Tensor<T>> {
    let d = a.dims();
    match axis {
        Axis::Batch => {
            let from: Vec<_> = alloc::vec_from(keep.iter().copied().map(Some));
            samples(name, a, &from, batch_shape)
        }
        _ => {
            let map = alloc::collect(
                alloc::checked_len(|| name.to_string(), &[d.batch, keep.len()])?,
                (0..d.batch).flat_map(|s| keep.iter().map(move |&i| (s * d.elems + i) as u32)),
            );
            gather(
                name,
                map,
                &[keep.len()],
                d.batch,
                a.is_sample_dependent(),
                Inputs::one(a.clone()),
            )
        }
    }
}

/// `pack(a, indices, dim)` (`pack_indices`): `dim = 1`: element `i` of each sample is element
/// `indices(i)`; `dim = 2`: sample `s` is sample `indices(s)`.
pub fn pack_indices<T: Real>(a: &Tensor<T>, indices: &[usize], dim: i64) -> Result<Tensor<T>> {
    const OP: &str = "pack_indices";
    let axis = Axis::from_dim(dim, OP, a)?;
    positive(OP, "the number of indices", indices.len())?;
    let keep = positions(OP, indices, extent(a, axis))?;
    select(OP, a, axis, &keep, &[a.elems()])
}

/// Scatters `a` into zeros of per-sample `shape` and `batch`: along `dim`, position `to[i]`
/// (0-based) of the result receives position `i` of `a` (later entries win).
fn place<T: Real>(
    name: &'static str,
    a: &Tensor<T>,
    axis: Axis,
    to: &[usize],
    shape: &[usize],
    batch: usize,
) -> Result<Tensor<T>> {
    let d = a.dims();
    let out = checked_dims(shape, batch).map_err(|e| in_op(name, e))?;
    fits(name, out.len())?;
    let mut map = alloc::filled(out.len(), NONE);
    match axis {
        Axis::Batch => {
            if out.elems != d.elems {
                return Err(Error::shape(format!(
                    "{name}: the result has {} elements per sample, the array {}",
                    out.elems,
                    describe(a)
                )));
            }
            for (s, &j) in to.iter().enumerate() {
                for e in 0..d.elems {
                    map[j * d.elems + e] = (s * d.elems + e) as u32;
                }
            }
        }
        _ => {
            if d.batch != batch && d.batch != 1 {
                return Err(Error::shape(format!(
                    "{name}: the result has batch {batch}, the array {}",
                    describe(a)
                )));
            }
            for s in 0..batch {
                let c = col(a, s) * d.elems;
                for (i, &j) in to.iter().enumerate() {
                    map[s * out.elems + j] = (c + i) as u32;
                }
            }
        }
    }
    let sd = a.is_sample_dependent() || batch > 1;
    let route = Route {
        name,
        kind: Kind::Gather,
        map: Arc::new(map),
    };
    route.apply(shape, batch, flags(sd), Inputs::one(a.clone()))
}

/// `unpack(a, array_shape, dim, indices)` (`unpack_mask`): zeros of `array_shape` (per-sample
/// shape followed by the batch) with, along `dim`, position `indices(i)` set from position `i`
/// of `a` (without `indices`: the first positions, a copy).
pub fn unpack_mask<T: Real>(
    a: &Tensor<T>,
    array_shape: &[usize],
    dim: i64,
    indices: Option<&[usize]>,
) -> Result<Tensor<T>> {
    const OP: &str = "unpack_mask";
    let axis = Axis::from_dim(dim, OP, a)?;
    let Some((&batch, shape)) = array_shape.split_last() else {
        return Err(arg_error(
            OP,
            "array_shape is empty (it must end with the batch size)".into(),
        ));
    };
    let out = checked_dims(shape, batch).map_err(|e| in_op(OP, e))?;
    let n_out = match axis {
        Axis::Batch => out.batch,
        _ => out.elems,
    };
    let n_in = extent(a, axis);
    let to = match indices {
        Some(list) => {
            if list.len() > n_in {
                return Err(arg_error(
                    OP,
                    format!(
                        "{} indices for {n_in} positions of the array {}",
                        list.len(),
                        describe(a)
                    ),
                ));
            }
            positions(OP, list, n_out)?
        }
        None => {
            if n_in > n_out {
                return Err(Error::shape(format!(
                    "{OP}: the array {} does not fit in array_shape {array_shape:?}",
                    describe(a)
                )));
            }
            alloc::vec_from(0..n_in)
        }
    };
    place(OP, a, axis, &to, shape, batch)
}

/// `unpack(a, indices, dim, new_size)` (`unpack_indices`): `dim = 1`: shape `[new_size]` with
/// element `indices(i)` = element `i` of each sample; `dim = 2`: batch `new_size` with sample
/// `indices(s)` = sample `s`; zeros elsewhere.
pub fn unpack_indices<T: Real>(
    a: &Tensor<T>,
    indices: &[usize],
    dim: i64,
    new_size: usize,
) -> Result<Tensor<T>> {
    const OP: &str = "unpack_indices";
    let axis = Axis::from_dim(dim, OP, a)?;
    positive(OP, "new_size", new_size)?;
    let n_in = extent(a, axis);
    if indices.len() > n_in {
        return Err(arg_error(
            OP,
            format!(
                "{} indices for {n_in} positions of the array {}",
                indices.len(),
                describe(a)
            ),
        ));
    }
    let to = positions(OP, indices, new_size)?;
    match axis {
        Axis::Batch => place(OP, a, axis, &to, &[a.elems()], new_size),
        _ => place(OP, a, axis, &to, &[new_size], a.batch()),
    }
}

/// `reshape(a, new_shape)`: the same values with per-sample shape `new_shape` (same size).
pub fn reshape<T: Real>(a: &Tensor<T>, new_shape: &[usize]) -> Result<Tensor<T>> {
    let d = checked_dims(new_shape, a.batch()).map_err(|e| in_op("reshape", e))?;
    if d.elems != a.elems() {
        return Err(Error::shape(format!(
            "reshape: new shape {new_shape:?} has {} elements, the array {} has {}",
            d.elems,
            describe(a),
            a.elems()
        )));
    }
    Ok(Tensor::from_op(
        new_shape,
        a.batch(),
        a.to_vec(),
        a.flags(),
        OpRef::Static(&RESHAPE),
        Inputs::one(a.clone()),
    ))
}

// ---------------------------------------------------------------------------------------------
// Selection by a mask
// ---------------------------------------------------------------------------------------------

fn merge_nodes<T: Real>(
    name: &'static str,
    t: &Tensor<T>,
    f: &Tensor<T>,
    mask: &[bool],
) -> Result<Tensor<T>> {
    let (dt, df) = (t.dims(), f.dims());
    let out = dt.broadcast(df).ok_or_else(|| {
        Error::shape(format!(
            "merge: tsource {} and fsource {} do not conform",
            describe(t),
            describe(f)
        ))
    })?;
    if mask.len() != out.len() {
        return Err(Error::shape(format!(
            "merge: mask has {} entries, the result {} x {} needs {}",
            mask.len(),
            out.elems,
            out.batch,
            out.len()
        )));
    }
    let index = |d: crate::core::dims::Dims, e: usize, s: usize| {
        (if d.batch == 1 { 0 } else { s }) * d.elems + if d.elems == 1 { 0 } else { e }
    };
    let off = dt.len();
    let map = alloc::vec_from((0..out.len()).map(|o| {
        let (e, s) = (o % out.elems, o / out.elems);
        let m = if mask[o] {
            index(dt, e, s)
        } else {
            off + index(df, e, s)
        };
        m as u32
    }));
    let sd = t.is_sample_dependent() || f.is_sample_dependent();
    gather(
        name,
        map,
        &[out.elems],
        out.batch,
        sd,
        Inputs::two(t.clone(), f.clone()),
    )
}

/// `merge(tsource, fsource, mask)` for two arrays: `tsource` where `mask` (`E * S` values) is
/// true, `fsource` elsewhere; shape `[E]`. Extents broadcast as in arithmetic.
pub fn merge<T: Real>(
    tsource: &Tensor<T>,
    fsource: &Tensor<T>,
    mask: &[bool],
) -> Result<Tensor<T>> {
    merge_nodes("merge", tsource, fsource, mask)
}

/// `merge(tsource, fsource, mask)` with a real scalar `fsource` (`merge_scalar`).
pub fn merge_scalar<T: Real>(tsource: &Tensor<T>, fsource: T, mask: &[bool]) -> Result<Tensor<T>> {
    merge_nodes("merge_scalar", tsource, &Tensor::scalar(fsource), mask)
}

/// `merge(tsource, fsource, mask)` with a real scalar `tsource`: `merge(fsource, tsource,
/// .not. mask)`.
pub fn scalar_merge<T: Real>(tsource: T, fsource: &Tensor<T>, mask: &[bool]) -> Result<Tensor<T>> {
    let not: Vec<bool> = alloc::vec_from(mask.iter().map(|m| !m));
    merge_nodes("merge_scalar", fsource, &Tensor::scalar(tsource), &not)
}

/// `merge(tsource, fsource, mask)` with a real matrix `fsource` of `rows` x `cols` values
/// (column-major), read as `(E, S)` extents that broadcast against `tsource`.
pub fn merge_real2d<T: Real>(
    tsource: &Tensor<T>,
    fsource: &[T],
    rows: usize,
    cols: usize,
    mask: &[bool],
) -> Result<Tensor<T>> {
    let d = checked_dims(&[rows], cols).map_err(|e| in_op("merge", e))?;
    if fsource.len() != d.len() {
        return Err(Error::shape(format!(
            "merge: fsource has {} values, {rows} x {cols} needs {}",
            fsource.len(),
            d.len()
        )));
    }
    let f = Tensor::constant(&[rows], cols, pool::copy(fsource), cols > 1, false);
    merge_nodes("merge", tsource, &f, mask)
}
