//! Thread safety: independent graphs built and differentiated on several threads at once give
//! results bit-identical to the same computation run serially; a shared read-only leaf used by
//! every thread is left untouched; graphs may be built on one thread and differentiated and
//! dropped on another; custom operations run concurrently; nothing leaks (`live_nodes()` returns
//! to its starting value).
//!
//! Every test takes `SERIAL` first: `live_nodes()` counts the whole process, and the test harness
//! runs the tests of this file on several threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex, MutexGuard};
use std::thread;

use diffstruc::*;

const THREADS: usize = 8;
/// Iterations per thread; each one builds and differentiates a fresh graph.
const ITERATIONS: usize = 300;
/// Distinct inputs per thread (iteration `i` uses input `i % SEEDS`).
const SEEDS: usize = 6;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Deterministic pseudo-random values in `[lo, hi]`.
fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// softplus(x) = log(1 + exp(x)), a custom operation that counts how often its rules run (the
/// counters are shared by every thread that uses the operation).
struct Softplus {
    jvp_calls: AtomicUsize,
    vjp_calls: AtomicUsize,
}

impl Softplus {
    fn new() -> Arc<Softplus> {
        Arc::new(Softplus {
            jvp_calls: AtomicUsize::new(0),
            vjp_calls: AtomicUsize::new(0),
        })
    }
    fn calls(&self) -> (usize, usize) {
        (
            self.jvp_calls.load(Ordering::SeqCst),
            self.vjp_calls.load(Ordering::SeqCst),
        )
    }
}

impl Operation for Softplus {
    fn name(&self) -> &str {
        "softplus"
    }
    fn jvp(&self, _: &Tensor, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Option<Tensor>> {
        self.jvp_calls.fetch_add(1, Ordering::SeqCst);
        let Some(t) = &t[0] else { return Ok(None) };
        Ok(Some(mul(t, &unary(UnaryOp::Sigmoid, &x[0])?)?))
    }
    fn vjp(&self, _: &Tensor, x: &[Tensor], g: &Grad, _: &[bool]) -> Result<Vec<Option<Grad>>> {
        self.vjp_calls.fetch_add(1, Ordering::SeqCst);
        let data = x[0]
            .to_vec()
            .iter()
            .zip(g.as_slice())
            .map(|(&v, &g)| g / (1.0 + (-v).exp()))
            .collect();
        Ok(vec![Some(Grad::new(data, x[0].dims()))])
    }
}

fn softplus(op: &Arc<Softplus>, x: &Tensor) -> Result<Tensor> {
    let data = x.to_vec().iter().map(|&v| (1.0 + v.exp()).ln()).collect();
    Tensor::from_custom(
        x.shape(),
        x.batch(),
        data,
        op.clone(),
        std::slice::from_ref(x),
    )
}

/// The leaves of one graph: `x` (per sample) and the weights `w`, `b` (shared by the batch), all
/// requiring a gradient, plus `s`, a constant shared by every thread (requires no gradient).
struct Leaves {
    x: Tensor,
    w: Tensor,
    b: Tensor,
}

/// Odd seeds get a large batch (buffers of more than 4096 values go through the per-thread
/// buffer pool), even seeds a batch of 3.
fn batch_of(seed: u64) -> usize {
    if seed % 2 == 1 {
        1100
    } else {
        3
    }
}

fn leaves(seed: u64) -> Leaves {
    let batch = batch_of(seed);
    let x = Tensor::from_vec(&[4], batch, uniform(4 * batch, -1.5, 1.5, seed)).unwrap();
    x.set_requires_grad(true);
    x.set_direction(&uniform(4, -1.0, 1.0, seed + 101)).unwrap();
    let w = Tensor::from_vec(&[5, 4], 1, uniform(20, -0.8, 0.8, seed + 202)).unwrap();
    w.set_sample_dependent(false);
    w.set_requires_grad(true);
    let b = Tensor::from_vec(&[5], 1, uniform(5, -0.5, 0.5, seed + 303)).unwrap();
    b.set_sample_dependent(false);
    b.set_requires_grad(true);
    Leaves { x, w, b }
}

/// A scalar loss over a graph that mixes matmul, broadcasting, exp/tanh/sigmoid, data movement
/// (spread, concat, pack, merge), a custom operation and reductions.
fn loss(l: &Leaves, s: &Tensor, op: &Arc<Softplus>) -> Result<Tensor> {
    let batch = l.x.batch();
    let u = matmul(s, &l.x)?; // shared constant [4, 4] times x: [4] x batch
    let a = add(&matmul(&l.w, &u)?, &l.b)?; // [5] x batch, b broadcast over the batch
    let h = unary(UnaryOp::Tanh, &a)?;
    let g = unary(UnaryOp::Sigmoid, &h)?;
    let e = unary(UnaryOp::Exp, &mul_scalar(&l.x, 0.5)?)?; // [4] x batch
    let c = concat(&g, &e, 1)?; // [9] x batch
    let p = pack_indices(&c, &[1, 3, 5, 7, 9], 1)?; // [5] x batch
    let sp = spread(&l.x, 1, 2, 5)?; // element 2 of each sample, 5 times
    let mask: Vec<bool> = (0..5 * batch).map(|i| i % 3 != 1).collect();
    let m = merge(&p, &sp, &mask)?;
    let k = softplus(op, &m)?;
    let q = mul(&k, &h)?;
    let keep: Vec<bool> = (0..batch).map(|s| s % 2 == 0).collect();
    let kept = pack_mask(&q, 2, Some(&keep))?; // samples 1, 3, ...
    let r = mean(&kept, 2)?; // [5] x 1
    let total = add(&sum_all(&q)?, &mul_scalar(&sum_all(&r)?, 0.25)?)?;
    add(&total, &mean_all(&sum(&e, 1)?)?)
}

/// Every number one run produces, as bit patterns: the loss, first and second forward
/// derivatives along x's direction, the reverse-mode gradients of x, w and b, and the
/// reverse-over-forward gradient of x (a Hessian-vector product).
fn run(seed: u64, s: &Tensor, op: &Arc<Softplus>) -> Vec<u32> {
    let l = leaves(seed);
    let f = loss(&l, s, op).unwrap();
    differentiate(&l, &f)
}

fn differentiate(l: &Leaves, f: &Tensor) -> Vec<u32> {
    let mut out = f.to_vec();
    let d1 = grad_forward(f, &l.x).unwrap();
    out.extend(d1.to_vec());
    let d2 = grad_forward(&d1, &l.x).unwrap();
    out.extend(d2.to_vec());
    grad_reverse(f, None).unwrap();
    for t in [&l.x, &l.w, &l.b] {
        out.extend(t.grad().expect("reverse mode gives a gradient").to_vec());
        t.zero_grad();
    }
    grad_reverse(&d1, None).unwrap();
    out.extend(l.x.grad().unwrap().to_vec());
    assert!(out.iter().all(|v| v.is_finite()), "non-finite result");
    out.into_iter().map(f32::to_bits).collect()
}

/// The shared constant: a `[4, 4]` matrix for every sample, requiring no gradient.
fn shared_constant() -> Tensor {
    let s = Tensor::from_vec(&[4, 4], 1, uniform(16, -1.0, 1.0, 7)).unwrap();
    s.set_sample_dependent(false);
    s
}

fn seed_of(thread: usize, k: usize) -> u64 {
    (1000 * thread + k) as u64
}

#[test]
fn independent_graphs_on_threads_match_serial_bit_for_bit() {
    let _guard = serial();
    let start = live_nodes();
    let s = shared_constant();
    let s_before = s.to_vec();
    let op = Softplus::new();

    // Serial reference, on this thread; it also counts the custom rules' calls per run.
    let reference: Vec<Vec<Vec<u32>>> = (0..THREADS)
        .map(|t| (0..SEEDS).map(|k| run(seed_of(t, k), &s, &op)).collect())
        .collect();
    let (jvp_serial, vjp_serial) = op.calls();
    let runs = THREADS * SEEDS;
    assert!(jvp_serial > 0 && vjp_serial > 0);
    assert_eq!(jvp_serial % runs, 0, "jvp calls per run differ");
    assert_eq!(vjp_serial % runs, 0, "vjp calls per run differ");
    // A different input gives different numbers (so the comparison below can fail).
    assert_ne!(reference[0][0], reference[0][1]);
    assert_ne!(reference[0][0], reference[1][0]);

    let reference = Arc::new(reference);
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, op, reference, barrier) =
                (s.clone(), op.clone(), reference.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..ITERATIONS {
                    let k = (i + t) % SEEDS;
                    let got = run(seed_of(t, k), &s, &op);
                    assert!(
                        got == reference[t][k],
                        "thread {t}, iteration {i}: results differ from the serial run"
                    );
                }
            })
        })
        .collect();
    // Join every worker before judging, so that a failure leaves no thread running.
    let failed = workers
        .into_iter()
        .map(|w| w.join().is_err())
        .filter(|&e| e)
        .count();
    assert_eq!(failed, 0, "{failed} workers failed");

    // Every rule ran exactly as often as in serial runs: no call lost or repeated.
    let (jvp_all, vjp_all) = op.calls();
    let per_run = (jvp_serial / runs, vjp_serial / runs);
    assert_eq!(jvp_all - jvp_serial, per_run.0 * THREADS * ITERATIONS);
    assert_eq!(vjp_all - vjp_serial, per_run.1 * THREADS * ITERATIONS);

    // The shared constant was only read.
    assert_eq!(s.to_vec(), s_before);
    assert!(s.grad().is_none() && !s.requires_grad() && s.is_leaf());
    drop(s);
    assert_eq!(live_nodes(), start, "nodes leaked");
}

/// The same weights (a shared leaf that requires no gradient, and its values) used by every
/// thread at once, in place of per-thread copies, give the same numbers.
#[test]
fn shared_read_only_weights_give_identical_results() {
    let _guard = serial();
    let start = live_nodes();
    let op = Softplus::new();
    let s = shared_constant();
    // Shared weights: constants here (requires_grad false), so every thread only reads them.
    let shared = leaves(42);
    shared.w.set_requires_grad(false);
    shared.b.set_requires_grad(false);
    let forward_only = |x_seed: u64, w: &Tensor, b: &Tensor| -> Vec<u32> {
        let l = Leaves {
            x: leaves(x_seed).x,
            w: w.clone(),
            b: b.clone(),
        };
        let f = loss(&l, &s, &op).unwrap();
        let mut out = f.to_vec();
        let d1 = grad_forward(&f, &l.x).unwrap();
        out.extend(d1.to_vec());
        out.extend(grad_forward(&d1, &l.x).unwrap().to_vec());
        grad_reverse(&f, None).unwrap();
        out.extend(l.x.grad().unwrap().to_vec());
        assert!(l.w.grad().is_none() && l.b.grad().is_none());
        out.into_iter().map(f32::to_bits).collect()
    };
    let reference: Vec<Vec<u32>> = (0..THREADS)
        .map(|t| forward_only(seed_of(t, 0), &shared.w, &shared.b))
        .collect();
    // Per-thread copies of the weights give the same numbers as the shared ones.
    let copy = |t: &Tensor| {
        let c = Tensor::from_vec(t.shape(), t.batch(), t.to_vec()).unwrap();
        c.set_sample_dependent(false);
        c
    };
    assert_eq!(
        forward_only(seed_of(0, 0), &copy(&shared.w), &copy(&shared.b)),
        reference[0]
    );
    assert_ne!(reference[0], reference[1]);

    let w_before = shared.w.to_vec();
    let barrier = Barrier::new(THREADS);
    thread::scope(|scope| {
        let (w, b) = (&shared.w, &shared.b);
        let (barrier, forward_only) = (&barrier, &forward_only);
        for (t, want) in reference.iter().enumerate() {
            let (w, b) = (w.clone(), b.clone());
            scope.spawn(move || {
                barrier.wait();
                for i in 0..ITERATIONS {
                    assert!(
                        forward_only(seed_of(t, 0), &w, &b) == *want,
                        "thread {t}, iteration {i}: results differ from the serial run"
                    );
                }
            });
        }
    });
    assert_eq!(shared.w.to_vec(), w_before);
    assert!(shared.w.grad().is_none() && shared.b.grad().is_none() && s.grad().is_none());
    drop((shared, s));
    assert_eq!(live_nodes(), start, "nodes leaked");
}

/// Graphs built on one thread are differentiated and dropped on another (the handoff itself
/// is synchronised by a channel; each graph is used by one thread at a time).
#[test]
fn graphs_move_between_threads() {
    let _guard = serial();
    let start = live_nodes();
    let op = Softplus::new();
    let s = shared_constant();
    let reference: Vec<Vec<u32>> = (0..THREADS).map(|t| run(seed_of(t, 3), &s, &op)).collect();
    let reference = &reference;
    thread::scope(|scope| {
        let mut receivers = Vec::new();
        let mut senders = Vec::new();
        for _ in 0..THREADS {
            let (tx, rx) = mpsc::sync_channel::<(usize, Leaves, Tensor)>(4);
            senders.push(tx);
            receivers.push(rx);
        }
        // Builder t sends its graphs to consumer (t + 1) % THREADS.
        for (t, tx) in senders.into_iter().enumerate() {
            let (s, op) = (s.clone(), op.clone());
            scope.spawn(move || {
                for _ in 0..ITERATIONS / 2 {
                    let l = leaves(seed_of(t, 3));
                    let f = loss(&l, &s, &op).unwrap();
                    tx.send((t, l, f)).unwrap();
                }
            });
        }
        for (c, rx) in receivers.into_iter().enumerate() {
            scope.spawn(move || {
                let mut n = 0;
                for (t, l, f) in rx {
                    assert_eq!(t, c, "graph delivered to the wrong consumer");
                    assert!(
                        differentiate(&l, &f) == reference[t],
                        "graph of thread {t} differentiated on another thread differs"
                    );
                    n += 1;
                    // l and f are dropped here, on the consuming thread
                }
                assert_eq!(n, ITERATIONS / 2);
            });
        }
    });
    // A long chain built here and released on another thread (per-thread release queue).
    let x = Tensor::from_vec(&[2], 1, vec![0.5, -0.25]).unwrap();
    x.set_requires_grad(true);
    let base = live_nodes();
    let mut y = x.clone();
    for _ in 0..20_000 {
        y = add_scalar(&mul_scalar(&y, 0.999).unwrap(), 0.001).unwrap();
    }
    assert!(live_nodes() >= base + 40_000);
    thread::spawn(move || drop(y)).join().unwrap();
    assert_eq!(
        live_nodes(),
        base,
        "the chain was not released on the other thread"
    );
    drop((x, s));
    assert_eq!(live_nodes(), start, "nodes leaked");
}

/// Reverse mode on several threads into one shared leaf that requires a gradient: beyond the
/// documented contract (one graph, one thread at a time), but accumulation must lose no
/// update. Integer-valued gradients make the total independent of the order of the additions.
#[test]
fn concurrent_accumulation_into_a_shared_gradient_loses_nothing() {
    let _guard = serial();
    let start = live_nodes();
    let w = Tensor::from_vec(&[3], 1, vec![1.0, 2.0, 3.0]).unwrap();
    w.set_sample_dependent(false);
    w.set_requires_grad(true);
    const ROUNDS: usize = 200;
    thread::scope(|scope| {
        for t in 0..THREADS {
            let w = w.clone();
            scope.spawn(move || {
                let c =
                    Tensor::from_vec(&[3], 2, (0..6).map(|i| (i + t) as f32).collect()).unwrap();
                for _ in 0..ROUNDS {
                    let f = sum_all(&mul(&w, &c).unwrap()).unwrap();
                    grad_reverse(&f, None).unwrap();
                }
            });
        }
    });
    // d/dw sum(w * c) = sum over the batch of c: (2 i + 3 + 2 t) for element i of thread t.
    let want: Vec<f32> = (0..3)
        .map(|i| {
            (0..THREADS)
                .map(|t| (ROUNDS * (2 * i + 3 + 2 * t)) as f32)
                .sum()
        })
        .collect();
    assert_eq!(w.grad().unwrap().to_vec(), want);
    drop(w);
    assert_eq!(live_nodes(), start, "nodes leaked");
}
