//! Gradient checking against central finite differences, in forward mode, reverse mode and to
//! second order (forward-over-forward and reverse-over-forward), for any function of arrays of
//! the including test's element type `R` (finite-difference step `H`).
#![allow(dead_code)]

use approx::relative_eq;
use diffstruc::{grad_forward, grad_reverse, Result, Tensor};

// The element type and finite-difference step of the test crate that includes this module.
use super::{H, R};

/// One input of a checked function.
#[derive(Clone)]
pub struct Input {
    pub shape: Vec<usize>,
    pub batch: usize,
    pub values: Vec<R>,
    pub sample_dependent: bool,
}

/// A sample-dependent input of `shape` and `batch` with deterministic values in `[lo, hi]`.
pub fn input(shape: &[usize], batch: usize, lo: R, hi: R, seed: u64) -> Input {
    let n = shape.iter().product::<usize>() * batch;
    Input {
        shape: shape.to_vec(),
        batch,
        values: uniform(n, lo, hi, seed),
        sample_dependent: true,
    }
}

/// The same input marked as shared by the batch (`is_sample_dependent = false`).
pub fn shared(mut i: Input) -> Input {
    i.sample_dependent = false;
    i
}

/// Deterministic pseudo-random values in `[lo, hi]`.
pub fn uniform(n: usize, lo: R, hi: R, seed: u64) -> Vec<R> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((s >> 33) as f64) / ((1u64 << 31) as f64);
            lo + (hi - lo) * u as R
        })
        .collect()
}

fn make(inputs: &[Input]) -> Vec<Tensor<R>> {
    inputs
        .iter()
        .map(|i| {
            let t = Tensor::from_vec(&i.shape, i.batch, i.values.clone()).unwrap();
            t.set_sample_dependent(i.sample_dependent);
            t.set_requires_grad(true);
            t
        })
        .collect()
}

/// Asserts two vectors agree within `tol` (absolute and relative).
pub fn assert_close(what: &str, got: &[R], want: &[R], tol: R) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            relative_eq!(g, w, epsilon = tol, max_relative = tol),
            "{what}: element {k}: got {g}, want {w}\n  got  {got:?}\n  want {want:?}"
        );
    }
}

/// Central difference of `eval` along `dir` applied to input `j`.
fn fd<F>(inputs: &[Input], j: usize, dir: &[R], eval: &F) -> Vec<R>
where
    F: Fn(&[Input]) -> Vec<R>,
{
    let shifted = |sign: R| {
        let mut p = inputs.to_vec();
        for (v, d) in p[j].values.iter_mut().zip(dir) {
            *v += sign * H * d;
        }
        eval(&p)
    };
    let (plus, minus) = (shifted(1.0), shifted(-1.0));
    plus.iter()
        .zip(&minus)
        .map(|(a, b)| (a - b) / (2.0 * H))
        .collect()
}

fn dot(a: &[R], b: &[R]) -> R {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn unit(n: usize, k: usize) -> Vec<R> {
    let mut v = vec![0.0; n];
    v[k] = 1.0;
    v
}

/// Checks `f` at `inputs`: values finite; forward mode against finite differences (a random
/// full direction and a per-element direction shared by all samples); reverse mode with a random
/// seed against finite differences; second order forward-over-forward and reverse-over-forward
/// against finite differences of the (already checked) first-order forward derivative.
pub fn check<F>(name: &str, inputs: Vec<Input>, f: F, tol: R)
where
    F: Fn(&[Tensor<R>]) -> Result<Tensor<R>>,
{
    let inputs = &inputs[..];
    let value = |p: &[Input]| f(&make(p)).unwrap().to_vec();
    let xs = make(inputs);
    let y = f(&xs).unwrap_or_else(|e| panic!("{name}: {e}"));
    let ny = y.dims().len();
    assert!(
        y.to_vec().iter().all(|v| v.is_finite()),
        "{name}: non-finite value"
    );

    // First order, forward: J v for a random full direction, and J e_0 shared by all samples.
    for (j, inp) in inputs.iter().enumerate() {
        let n = inp.values.len();
        let e = n / inp.batch;
        let v = uniform(n, -1.0, 1.0, 7 + j as u64);
        xs[j].set_direction(&v).unwrap();
        let jvp = grad_forward(&y, &xs[j]).unwrap().to_vec();
        assert_close(
            &format!("{name}: forward d/dx{j}"),
            &jvp,
            &fd(inputs, j, &v, &value),
            tol,
        );
        let e0: Vec<R> = (0..n).map(|k| if k % e == 0 { 1.0 } else { 0.0 }).collect();
        xs[j].set_direction(&unit(e, 0)).unwrap();
        let jvp0 = grad_forward(&y, &xs[j]).unwrap();
        assert_eq!(jvp0.dims(), y.dims(), "{name}: tangent extents");
        assert_close(
            &format!("{name}: forward shared direction d/dx{j}"),
            &jvp0.to_vec(),
            &fd(inputs, j, &e0, &value),
            tol,
        );
        xs[j].set_direction(&v).unwrap();
    }

    // First order, reverse: gradient of <w, f> for a random seed w.
    let w = uniform(ny, -1.0, 1.0, 99);
    grad_reverse(&y, Some(&w)).unwrap();
    for (j, inp) in inputs.iter().enumerate() {
        let g = xs[j]
            .grad()
            .expect("reverse mode left no gradient")
            .to_vec();
        let n = inp.values.len();
        let want: Vec<R> = (0..n)
            .map(|k| dot(&w, &fd(inputs, j, &unit(n, k), &value)))
            .collect();
        assert_close(&format!("{name}: reverse d/dx{j}"), &g, &want, tol);
    }

    // Second order. jvp_j(p) = J_j(p) v_j, computed by forward mode at perturbed inputs.
    let f = &f;
    let jvp_at = |j: usize| {
        let v = uniform(inputs[j].values.len(), -1.0, 1.0, 7 + j as u64);
        move |p: &[Input]| {
            let ts = make(p);
            ts[j].set_direction(&v).unwrap();
            grad_forward(&f(&ts).unwrap(), &ts[j]).unwrap().to_vec()
        }
    };
    for (j, _) in inputs.iter().enumerate() {
        let dj = grad_forward(&y, &xs[j]).unwrap();
        let eval = jvp_at(j);
        for (k, inp) in inputs.iter().enumerate() {
            // forward over forward: d/dx_k (J_j v_j) along v_k
            let vk = uniform(inp.values.len(), -1.0, 1.0, 7 + k as u64);
            let d2 = grad_forward(&dj, &xs[k]).unwrap().to_vec();
            assert_close(
                &format!("{name}: forward-over-forward d/dx{k} d/dx{j}"),
                &d2,
                &fd(inputs, k, &vk, &eval),
                tol * 4.0,
            );
            // reverse over forward: gradient of <w, J_j v_j> with respect to x_k
            for x in &xs {
                x.zero_grad();
            }
            grad_reverse(&dj, Some(&w)).unwrap();
            let n = inp.values.len();
            let got = xs[k].grad().map_or(vec![0.0; n], |g| g.to_vec());
            let want: Vec<R> = (0..n)
                .map(|e| dot(&w, &fd(inputs, k, &unit(n, e), &eval)))
                .collect();
            assert_close(
                &format!("{name}: reverse-over-forward d/dx{k} (J{j} v)"),
                &got,
                &want,
                tol * 4.0,
            );
        }
    }
}
