//! Reductions: `sum` and `mean`, over the elements of each sample (`dim = 1`), over the batch
//! (`dim = 2`), or over everything. `dim` is a storage dimension of `(E, S)`, as in diffstruc.

use super::{describe, Operation};
use crate::core::alloc;
use crate::core::dims::{self, Dims};
use crate::core::small::Inputs;
use crate::core::{pool, Error, Flags, Grad, OpRef, Real, Result, Tensor};

/// What a reduction adds up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// `dim = 1`: the `E` elements of each sample; result `[1]` with the same batch.
    Elements,
    /// `dim = 2`: across the batch; result keeps the per-sample shape, one sample, and is not
    /// sample-dependent.
    Batch,
    /// Everything; result `[1]`, one sample.
    All,
}

impl Axis {
    /// The axis for diffstruc's `dim` argument (1 or 2).
    pub fn from_dim<T: Real>(dim: i64, op: &str, a: &Tensor<T>) -> Result<Axis> {
        match dim {
            1 => Ok(Axis::Elements),
            2 => Ok(Axis::Batch),
            _ => Err(Error::argument(format!(
                "{op}: dim must be 1 (elements) or 2 (batch), got {dim} for an array {}",
                describe(a)
            ))),
        }
    }
    fn out_dims(self, d: Dims) -> Dims {
        match self {
            Axis::Elements => Dims::new(1, d.batch),
            Axis::Batch => Dims::new(d.elems, 1),
            Axis::All => Dims::new(1, 1),
        }
    }
}

#[derive(Clone, Copy)]
struct Reduce {
    mean: bool,
    axis: Axis,
}

/// Shared<T> instances of every reduction.
static REDUCTIONS: [Reduce; 6] = [
    Reduce {
        mean: false,
        axis: Axis::Elements,
    },
    Reduce {
        mean: false,
        axis: Axis::Batch,
    },
    Reduce {
        mean: false,
        axis: Axis::All,
    },
    Reduce {
        mean: true,
        axis: Axis::Elements,
    },
    Reduce {
        mean: true,
        axis: Axis::Batch,
    },
    Reduce {
        mean: true,
        axis: Axis::All,
    },
];

impl Reduce {
    fn op_ref<T: Real>(self) -> OpRef<T> {
        let i = usize::from(self.mean) * 3
            + match self.axis {
                Axis::Elements => 0,
                Axis::Batch => 1,
                Axis::All => 2,
            };
        OpRef::Static(&REDUCTIONS[i])
    }
    fn name(self) -> &'static str {
        match (self.mean, self.axis) {
            (false, Axis::All) => "sum_all_array",
            (true, Axis::All) => "mean_all_array",
            (false, _) => "sum_array",
            (true, _) => "mean_array",
        }
    }
    /// Number of values added into each result element.
    fn count(self, d: Dims) -> usize {
        d.len() / self.axis.out_dims(d).len()
    }
}

/// Sums in storage order in T, as Fortran's `sum` does, so results print identically.
fn sum_values<T: Real>(x: &[T], d: Dims, axis: Axis) -> Vec<T> {
    match axis {
        Axis::All => pool::filled(1, x.iter().fold(T::ZERO, |s, &v| s + v)),
        Axis::Elements => pool::collect(
            d.batch,
            x.chunks_exact(d.elems)
                .map(|c| c.iter().fold(T::ZERO, |s, &v| s + v)),
        ),
        Axis::Batch => dims::reduce_to(x, d, Dims::new(d.elems, 1)),
    }
}

/// Means accumulated and divided in f64, rounded once to T: a mean of values near T's
/// largest is finite whenever the true mean is (an T sum would overflow to infinity first).
fn mean_values<T: Real>(x: &[T], d: Dims, axis: Axis) -> Vec<T> {
    let mean = |it: &mut dyn Iterator<Item = &T>, n: usize| -> T {
        T::from_f64(it.fold(0.0f64, |s, &v| s + v.to_f64()) / n as f64)
    };
    match axis {
        Axis::All => pool::filled(1, mean(&mut x.iter(), x.len())),
        Axis::Elements => pool::collect(
            d.batch,
            x.chunks_exact(d.elems)
                .map(|c| mean(&mut c.iter(), d.elems)),
        ),
        Axis::Batch => {
            let mut acc: Vec<f64> = alloc::filled(d.elems, 0.0);
            for c in x.chunks_exact(d.elems) {
                acc.iter_mut().zip(c).for_each(|(s, &v)| *s += v.to_f64());
            }
            let n = d.batch as f64;
            pool::collect(d.elems, acc.iter().map(|&s| T::from_f64(s / n)))
        }
    }
}

fn reduce<T: Real>(r: Reduce, a: &Tensor<T>) -> Result<Tensor<T>> {
    let d = a.dims();
    let data = alloc::guard_op(r.name(), &[a], || {
        let x = a.values();
        Ok(if r.mean {
            mean_values(&x, d, r.axis)
        } else {
            sum_values(&x, d, r.axis)
        })
    })?;
    let (shape, batch, sample_dependent) = match r.axis {
        Axis::Elements => (&[1][..], d.batch, a.is_sample_dependent()),
        Axis::Batch => (a.shape(), 1, false),
        Axis::All => (&[1][..], 1, a.is_sample_dependent()),
    };
    let flags = Flags {
        sample_dependent,
        scalar: a.is_scalar(),
    };
    Ok(Tensor::from_op(
        shape,
        batch,
        data,
        flags,
        r.op_ref(),
        Inputs::one(a.clone()),
    ))
}

impl<T: Real> Operation<T> for Reduce {
    fn name(&self) -> &str {
        Reduce::name(*self)
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
        t[0].as_ref().map(|t| reduce(*self, t)).transpose()
    }
    fn vjp(
        &self,
        out: &Tensor<T>,
        x: &[Tensor<T>],
        g: &Grad<T>,
        _: &[bool],
    ) -> Result<Vec<Option<Grad<T>>>> {
        let d = x[0].dims();
        let mut data = dims::expand(g.as_slice(), out.dims(), d);
        if self.mean {
            let n = T::from_f64(self.count(d) as f64);
            data.iter_mut().for_each(|v| *v /= n);
        }
        Ok(vec![Some(Grad::new(data, d))])
    }
}

/// `sum(a, dim)` (`sum_array`).
pub fn sum<T: Real>(a: &Tensor<T>, dim: i64) -> Result<Tensor<T>> {
    let axis = Axis::from_dim(dim, "sum_array", a)?;
    reduce(Reduce { mean: false, axis }, a)
}
/// `mean(a, dim)` (`mean_array`).
pub fn mean<T: Real>(a: &Tensor<T>, dim: i64) -> Result<Tensor<T>> {
    let axis = Axis::from_dim(dim, "mean_array", a)?;
    reduce(Reduce { mean: true, axis }, a)
}
/// `sum(a)`: the grand total (`sum_all_array`).
pub fn sum_all<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    reduce(
        Reduce {
            mean: false,
            axis: Axis::All,
        },
        a,
    )
}
/// `mean(a)`: the mean of every value (`mean_all_array`).
pub fn mean_all<T: Real>(a: &Tensor<T>) -> Result<Tensor<T>> {
    reduce(
        Reduce {
            mean: true,
            axis: Axis::All,
        },
        a,
    )
}
