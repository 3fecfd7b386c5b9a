//! The f32 matrix product (`diffstruc::ops::gemm`) against an f64 reference: many shapes (empty,
//! tile edges, the MLP benchmark's, deep), every kernel the CPU has, both orientations, small
//! blockings that exercise every block loop, all four transpose combinations, strided and
//! reversed sub-views, `beta` 0 (over NaN), 1 and 0.5; and bit-identity between kernels,
//! orientations and column splits.
//!
//! `gemm_speed` (ignored) measures GFLOP/s of the selected kernel against ndarray's
//! `general_mat_mul` on the benchmark's shapes:
//! `cargo test --release --test gemm -- --ignored gemm_speed --nocapture`
//! (`GEMM_TUNE=1` also times each kernel; `GEMM_TUNE_ALL=1` with it, packing choices,
//! orientations and blockings).

use diffstruc::ops::gemm::{self, Config, Kernel, Orient};
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, ShapeBuilder};

/// Deterministic pseudo-random values in `[-1, 1]`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// How an operand is laid out in memory.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    /// column-major
    Col,
    /// row-major (a transposed view of a column-major matrix)
    Row,
    /// every other row and every third column of a larger column-major array
    Strided,
    /// column-major with both axes reversed (negative strides)
    Reversed,
}

const LAYOUTS: [Layout; 4] = [Layout::Col, Layout::Row, Layout::Strided, Layout::Reversed];

/// Storage large enough for an `r × c` view of `layout`, filled with `fill()`.
fn storage(r: usize, c: usize, layout: Layout, mut fill: impl FnMut() -> f32) -> Array2<f32> {
    let (rows, cols) = match layout {
        Layout::Col | Layout::Reversed => (r, c),
        Layout::Row => (c, r),
        Layout::Strided => (2 * r + 1, 3 * c + 2),
    };
    Array2::from_shape_fn((rows, cols).f(), |_| fill())
}

/// The `r × c` view of `layout` into `st`.
fn view<'a>(st: &'a Array2<f32>, layout: Layout) -> ArrayView2<'a, f32> {
    match layout {
        Layout::Col => st.view(),
        Layout::Row => st.view().reversed_axes(),
        Layout::Strided => st
            .slice(s![1..;2, 2..;3])
            .slice_move(s![..st.nrows() / 2, ..]),
        Layout::Reversed => st.slice(s![..;-1, ..;-1]),
    }
}

fn view_mut<'a>(st: &'a mut Array2<f32>, layout: Layout) -> ArrayViewMut2<'a, f32> {
    let half = st.nrows() / 2;
    match layout {
        Layout::Col => st.view_mut(),
        Layout::Row => st.view_mut().reversed_axes(),
        Layout::Strided => st.slice_mut(s![1..;2, 2..;3]).slice_move(s![..half, ..]),
        Layout::Reversed => st.slice_mut(s![..;-1, ..;-1]),
    }
}

/// `a · b + beta c0` in f64, and `Σ |a||b| + |beta c0|` (the scale of the rounding error).
fn reference(
    a: &ArrayView2<f32>,
    b: &ArrayView2<f32>,
    beta: f32,
    c0: &Array2<f32>,
) -> (Array2<f64>, Array2<f64>) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let mut want = Array2::zeros((m, n));
    let mut scale = Array2::zeros((m, n));
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut t) = (0f64, 0f64);
            for p in 0..k {
                let x = f64::from(a[[i, p]]) * f64::from(b[[p, j]]);
                s += x;
                t += x.abs();
            }
            if beta != 0.0 {
                let y = f64::from(beta) * f64::from(c0[[i, j]]);
                s += y;
                t += y.abs();
            }
            want[[i, j]] = s;
            scale[[i, j]] = t;
        }
    }
    (want, scale)
}

/// The first element of `got` farther from `want` than the f32 error bound of a blocked FMA
/// sum of depth `k`, as a message.
fn mismatch(
    got: &ArrayView2<f32>,
    want: &Array2<f64>,
    scale: &Array2<f64>,
    k: usize,
) -> Option<String> {
    // each k block adds at most its depth (<= KC) roundings, and each block sum one more
    let blocks = k.div_ceil(gemm::KC).max(1);
    let depth = k.div_ceil(blocks) + blocks + 2;
    let bound = 2.0 * depth as f64 * f64::from(f32::EPSILON / 2.0);
    for ((i, j), &g) in got.indexed_iter() {
        let (w, s) = (want[[i, j]], scale[[i, j]]);
        let err = (f64::from(g) - w).abs();
        // (NaN fails)
        if err.is_nan() || err > bound * s + f64::from(f32::MIN_POSITIVE) {
            return Some(format!(
                "c({i}, {j}) = {g}, want {w} (error {err:e}, bound {:e})",
                bound * s
            ));
        }
    }
    None
}

/// Every available kernel.
fn kernels() -> Vec<Kernel> {
    Kernel::ALL
        .into_iter()
        .filter(|k| k.is_available())
        .collect()
}

/// A way to compute `c = a · b + beta c`.
type Product<'a> = dyn FnMut(&ArrayView2<f32>, &ArrayView2<f32>, f32, &mut ArrayViewMut2<f32>) + 'a;

/// A product `(m × k) · (k × n)` in every combination of the given layouts and betas,
/// computed with `run`; panics with a description at the first wrong element.
#[allow(clippy::too_many_arguments)]
fn check(
    rng: &mut Rng,
    m: usize,
    k: usize,
    n: usize,
    la: Layout,
    lb: Layout,
    lc: Layout,
    beta: f32,
    run: &mut Product,
    what: &str,
) {
    let sa = storage(m, k, la, || rng.next());
    let sb = storage(k, n, lb, || rng.next());
    let (a, b) = (view(&sa, la), view(&sb, lb));
    // C's storage outside the view holds a sentinel that must survive
    let sentinel = 12345.0f32;
    let mut sc = storage(m, n, lc, || sentinel);
    let c0 = Array2::from_shape_fn((m, n), |_| if beta == 0.0 { f32::NAN } else { rng.next() });
    view_mut(&mut sc, lc).assign(&c0);
    let (want, scale) = reference(&a, &b, beta, &c0);
    run(&a, &b, beta, &mut view_mut(&mut sc, lc));
    let got = view(&sc, lc);
    if let Some(e) = mismatch(&got, &want, &scale, k) {
        panic!("{what}: {m}x{k} · {k}x{n}, layouts {la:?} {lb:?} {lc:?}, beta {beta}: {e}");
    }
    let inside = got.len();
    let untouched = sc.iter().filter(|&&x| x == sentinel).count();
    assert!(
        untouched + inside >= sc.len(),
        "{what}: {m}x{k} · {k}x{n}, layouts {la:?} {lb:?} {lc:?}: wrote outside the view"
    );
}

/// Shapes around the tiles (16, 32, 48 rows; 8, 12, 14, 24 columns) and blocks.
const EDGES: [usize; 22] = [
    1, 2, 3, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 49, 65,
];

/// Every kernel, orientation and packing choice, with the default blocking and with a tiny one
/// that cuts even small products into several blocks of every loop.
fn configs() -> Vec<Config> {
    let mut v = Vec::new();
    for kernel in kernels() {
        let base = Config {
            kernel: Some(kernel),
            ..Config::default()
        };
        if kernel == Kernel::Ndarray {
            v.push(base);
            continue;
        }
        for orient in [Orient::Normal, Orient::Transposed, Orient::Auto] {
            for pack_a in [None, Some(false)] {
                for pack_b in [None, Some(true), Some(false)] {
                    for tiny in [false, true] {
                        let mut c = Config {
                            orient,
                            pack_a,
                            pack_b,
                            ..base
                        };
                        if tiny {
                            (c.kc, c.mc, c.nc) = (5, 40, 13);
                        }
                        v.push(c);
                    }
                }
            }
        }
    }
    v
}

#[test]
fn random_shapes_every_kernel_and_layout() {
    let mut rng = Rng(1);
    let configs = configs();
    for round in 0..160 {
        let pick = |rng: &mut Rng| {
            if rng.below(4) == 0 {
                1 + rng.below(80)
            } else {
                EDGES[rng.below(EDGES.len())]
            }
        };
        let (m, k, n) = (pick(&mut rng), pick(&mut rng), pick(&mut rng));
        let la = LAYOUTS[rng.below(4)];
        let lb = LAYOUTS[rng.below(4)];
        let lc = LAYOUTS[rng.below(4)];
        let beta = [0.0, 1.0, 0.5][round % 3];
        for config in &configs {
            let what = format!("{config:?}");
            check(
                &mut rng,
                m,
                k,
                n,
                la,
                lb,
                lc,
                beta,
                &mut |a, b, beta, c| gemm::sgemm_with(config, a, b, beta, c).unwrap(),
                &what,
            );
        }
    }
}

#[test]
fn all_transpose_combinations_and_betas() {
    let mut rng = Rng(2);
    for &(m, k, n) in &[(33, 17, 13), (5, 40, 70), (70, 3, 5), (64, 64, 24)] {
        for la in [Layout::Col, Layout::Row] {
            for lb in [Layout::Col, Layout::Row] {
                for lc in LAYOUTS {
                    for beta in [0.0, 1.0, 0.5, -2.0] {
                        check(
                            &mut rng,
                            m,
                            k,
                            n,
                            la,
                            lb,
                            lc,
                            beta,
                            &mut |a, b, beta, c| gemm::sgemm(a, b, beta, c).unwrap(),
                            "sgemm",
                        );
                    }
                }
            }
        }
    }
}

/// The benchmark's products, as `matmul` and its gradients build them, and deep and wide ones
/// that take several blocks with the default blocking.
#[test]
fn benchmark_and_large_shapes() {
    let mut rng = Rng(3);
    let shapes = [
        (256, 784, 128, Layout::Col, Layout::Col),
        (10, 256, 128, Layout::Col, Layout::Col),
        (256, 128, 784, Layout::Col, Layout::Row),
        (256, 10, 128, Layout::Row, Layout::Col),
        (10, 128, 256, Layout::Col, Layout::Row),
        (37, 2000, 29, Layout::Col, Layout::Col),
        (600, 70, 50, Layout::Row, Layout::Col),
        (20, 30, 4200, Layout::Col, Layout::Row),
        (1, 1000, 1, Layout::Row, Layout::Col),
        (1, 1, 1000, Layout::Col, Layout::Col),
    ];
    for &(m, k, n, la, lb) in &shapes {
        for beta in [0.0, 1.0] {
            for kernel in kernels() {
                check(
                    &mut rng,
                    m,
                    k,
                    n,
                    la,
                    lb,
                    Layout::Col,
                    beta,
                    &mut |a, b, beta, c| {
                        let config = Config {
                            kernel: Some(kernel),
                            ..Config::default()
                        };
                        gemm::sgemm_with(&config, a, b, beta, c).unwrap()
                    },
                    &format!("{kernel:?}"),
                );
            }
        }
    }
}

/// Empty extents: nothing happens for `m = 0` or `n = 0`; `k = 0` gives `beta c` (zeros, not
/// NaN, for `beta = 0`).
#[test]
fn empty_extents() {
    for kernel in kernels() {
        let config = Config {
            kernel: Some(kernel),
            ..Config::default()
        };
        for &(m, k, n) in &[(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0), (40, 0, 40)] {
            let a = Array2::<f32>::ones((m, k).f());
            let b = Array2::<f32>::ones((k, n).f());
            for (beta, c0, want) in [(0.0, f32::NAN, 0.0), (1.0, 2.0, 2.0), (3.0, 2.0, 6.0)] {
                let mut c = Array2::from_elem((m, n).f(), c0);
                gemm::sgemm_with(&config, &a.view(), &b.view(), beta, &mut c.view_mut()).unwrap();
                let want = if k == 0 { want } else { c0 };
                assert!(
                    c.iter().all(|&x| x == want),
                    "{kernel:?} {m}x{k}·{k}x{n} beta {beta}: {c:?}"
                );
            }
        }
    }
}

#[test]
fn mismatched_extents_are_errors() {
    let a = Array2::<f32>::ones((3, 4));
    let b = Array2::<f32>::ones((5, 2));
    let mut c = Array2::<f32>::zeros((3, 2));
    for kernel in kernels() {
        let config = Config {
            kernel: Some(kernel),
            ..Config::default()
        };
        let r = gemm::sgemm_with(&config, &a.view(), &b.view(), 0.0, &mut c.view_mut());
        assert!(r.is_err(), "{kernel:?}");
    }
    let b = Array2::<f32>::ones((4, 2));
    let mut c = Array2::<f32>::zeros((2, 2));
    assert!(gemm::sgemm(&a.view(), &b.view(), 0.0, &mut c.view_mut()).is_err());
}

/// The checker itself: a result off by a few units in the last place of a large term is caught.
#[test]
fn checker_catches_wrong_results() {
    let mut rng = Rng(4);
    let (m, k, n) = (20, 300, 20);
    let a = Array2::from_shape_fn((m, k).f(), |_| rng.next());
    let b = Array2::from_shape_fn((k, n).f(), |_| rng.next());
    let c0 = Array2::zeros((m, n));
    let (want, scale) = reference(&a.view(), &b.view(), 0.0, &c0);
    let mut c = Array2::zeros((m, n).f());
    gemm::sgemm(&a.view(), &b.view(), 0.0, &mut c.view_mut()).unwrap();
    assert!(mismatch(&c.view(), &want, &scale, k).is_none());
    // one product term dropped
    c[[7, 3]] -= a[[7, 0]] * b[[0, 3]];
    assert!(
        mismatch(&c.view(), &want, &scale, k).is_some() || (a[[7, 0]] * b[[0, 3]]).abs() < 1e-3
    );
    c[[7, 3]] += a[[7, 0]] * b[[0, 3]] + 1e-2;
    assert!(mismatch(&c.view(), &want, &scale, k).is_some());
}

/// Every tile shape, orientation and column split gives the same bits (the k blocks depend on
/// k only); so results do not depend on the thread count.
#[test]
fn bits_do_not_depend_on_tile_orientation_or_column_split() {
    let mut rng = Rng(5);
    let avx: Vec<Kernel> = kernels()
        .into_iter()
        .filter(|&k| k != Kernel::Ndarray)
        .collect();
    if avx.is_empty() {
        return;
    }
    for &(m, k, n) in &[
        (256, 784, 128),
        (10, 256, 128),
        (45, 1000, 37),
        (3, 50, 200),
    ] {
        let a = Array2::from_shape_fn((m, k).f(), |_| rng.next());
        let b = Array2::from_shape_fn((k, n).f(), |_| rng.next());
        let c0 = Array2::from_shape_fn((m, n).f(), |_| rng.next());
        let mut first: Option<Array2<f32>> = None;
        let mut configs = Vec::new();
        for &kernel in &avx {
            for orient in [Orient::Normal, Orient::Transposed] {
                for (mc, nc) in [(gemm::MC, gemm::NC), (50, 30)] {
                    for pack_a in [None, Some(false)] {
                        for pack_b in [None, Some(false)] {
                            configs.push(Config {
                                kernel: Some(kernel),
                                orient,
                                mc,
                                nc,
                                pack_a,
                                pack_b,
                                ..Config::default()
                            });
                        }
                    }
                }
            }
        }
        for config in &configs {
            for split in [n, 16, 7] {
                let mut c = c0.clone();
                let mut j = 0;
                while j < n {
                    let e = (j + split).min(n);
                    gemm::sgemm_with(
                        config,
                        &a.view(),
                        &b.slice(s![.., j..e]),
                        1.0,
                        &mut c.slice_mut(s![.., j..e]),
                    )
                    .unwrap();
                    j = e;
                }
                match &first {
                    None => first = Some(c),
                    Some(f) => assert!(
                        f.iter()
                            .zip(c.iter())
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{m}x{k}x{n}: {config:?} split {split} differs"
                    ),
                }
            }
        }
    }
}

// ---- speed --------------------------------------------------------------------------------------

/// One of the benchmark's products: `(m × k) · (k × n)` with the operands' layouts.
struct Case {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    la: Layout,
    lb: Layout,
}

const W4: [Case; 5] = [
    Case {
        name: "W1·X      256x784·784x128",
        m: 256,
        k: 784,
        n: 128,
        la: Layout::Col,
        lb: Layout::Col,
    },
    Case {
        name: "W2·h       10x256·256x128",
        m: 10,
        k: 256,
        n: 128,
        la: Layout::Col,
        lb: Layout::Col,
    },
    Case {
        name: "g1·Xᵀ     256x128·128x784ᵀ",
        m: 256,
        k: 128,
        n: 784,
        la: Layout::Col,
        lb: Layout::Row,
    },
    Case {
        name: "W2ᵀ·g2    256x10ᵀ·10x128",
        m: 256,
        k: 10,
        n: 128,
        la: Layout::Row,
        lb: Layout::Col,
    },
    Case {
        name: "g2·hᵀ      10x128·128x256ᵀ",
        m: 10,
        k: 128,
        n: 256,
        la: Layout::Col,
        lb: Layout::Row,
    },
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

type Runner<'a> = Box<dyn Fn(&ArrayView2<f32>, &ArrayView2<f32>, &mut ArrayViewMut2<f32>) + 'a>;

/// GFLOP/s of each runner on `case`, interleaved, median of `reps` repetitions.
fn time(case: &Case, runners: &[Runner], reps: usize) -> Vec<f64> {
    let mut rng = Rng(9);
    let sa = storage(case.m, case.k, case.la, || rng.next());
    let sb = storage(case.k, case.n, case.lb, || rng.next());
    let (a, b) = (view(&sa, case.la), view(&sb, case.lb));
    let mut c = Array2::<f32>::zeros((case.m, case.n).f());
    let flop = 2.0 * (case.m * case.k * case.n) as f64;
    // about 1 ms per timing, from the fastest of a few calls of the first runner
    let once = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            runners[0](&a, &b, &mut c.view_mut());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let iters = ((1e-3 / once.max(1e-9)) as usize).clamp(1, 1_000_000);
    let mut samples = vec![Vec::new(); runners.len()];
    for _ in 0..reps {
        for (r, s) in runners.iter().zip(samples.iter_mut()) {
            r(&a, &b, &mut c.view_mut());
            let t = std::time::Instant::now();
            for _ in 0..iters {
                r(&a, &b, &mut c.view_mut());
            }
            s.push(flop * iters as f64 / t.elapsed().as_secs_f64() / 1e9);
        }
    }
    samples.into_iter().map(median).collect()
}

/// Median GFLOP/s of `case` with each of `configs`, interleaved.
fn tune_row(case: &Case, configs: &[Config], reps: usize) -> Vec<f64> {
    let runners: Vec<Runner> = configs
        .iter()
        .map(|&config| {
            Box::new(
                move |a: &ArrayView2<f32>, b: &ArrayView2<f32>, c: &mut ArrayViewMut2<f32>| {
                    gemm::sgemm_with(&config, a, b, 0.0, c).unwrap()
                },
            ) as Runner
        })
        .collect();
    time(case, &runners, reps)
}

#[test]
#[ignore]
fn gemm_speed() {
    let reps = 21;
    let runners: Vec<Runner> = vec![
        Box::new(|a, b, c| gemm::sgemm(a, b, 0.0, c).unwrap()),
        Box::new(|a, b, c| ndarray::linalg::general_mat_mul(1.0, a, b, 0.0, c)),
    ];
    println!(
        "{:30} {:>10} {:>10} {:>7}",
        "GFLOP/s (median of 21)", "new", "ndarray", "ratio"
    );
    let (mut t_new, mut t_old, mut total) = (0.0, 0.0, 0.0);
    for case in &W4 {
        let g = time(case, &runners, reps);
        let flop = 2.0 * (case.m * case.k * case.n) as f64;
        total += flop;
        t_new += flop / g[0];
        t_old += flop / g[1];
        println!(
            "{:30} {:10.1} {:10.1} {:7.2}",
            case.name,
            g[0],
            g[1],
            g[0] / g[1]
        );
    }
    println!(
        "{:30} {:10.1} {:10.1} {:7.2}   ({:.3} vs {:.3} ms for the five)",
        "the five together",
        total / t_new,
        total / t_old,
        t_old / t_new,
        t_new * 1e-6,
        t_old * 1e-6
    );
    // small products: must not be slower than ndarray
    let small = [
        (1, 1, 1),
        (3, 3, 1),
        (4, 4, 4),
        (7, 7, 7),
        (8, 8, 8),
        (1, 64, 1),
        (16, 16, 16),
        (10, 10, 10),
        (32, 32, 32),
        (64, 1, 64),
        (1, 256, 128),
        (128, 256, 1),
    ];
    println!(
        "{:30} {:>10} {:>10} {:>7}",
        "small (m k n)", "new", "ndarray", "ratio"
    );
    for &(m, k, n) in &small {
        let case = Case {
            name: "",
            m,
            k,
            n,
            la: Layout::Col,
            lb: Layout::Col,
        };
        let g = time(&case, &runners, reps);
        println!(
            "{:30} {:10.2} {:10.2} {:7.2}",
            format!("{m} {k} {n}"),
            g[0],
            g[1],
            g[0] / g[1]
        );
    }
    if std::env::var_os("GEMM_TUNE").is_none() {
        return;
    }
    let cases: Vec<Case> = W4
        .iter()
        .map(|c| Case { name: c.name, ..*c })
        .chain(small.iter().map(|&(m, k, n)| Case {
            name: "",
            m,
            k,
            n,
            la: Layout::Col,
            lb: Layout::Col,
        }))
        .collect();
    let table = |title: &str, configs: &[(String, Config)]| {
        let head: Vec<&str> = configs.iter().map(|(h, _)| h.as_str()).collect();
        println!("{title}: {}", head.join(" | "));
        let configs: Vec<Config> = configs.iter().map(|(_, c)| *c).collect();
        for case in &cases {
            let g = tune_row(case, &configs, 11);
            let cells: Vec<String> = g.iter().map(|x| format!("{x:6.1}")).collect();
            let name = format!("{} {}x{}x{}", case.name, case.m, case.k, case.n);
            println!("{name:40} {}", cells.join(" "));
        }
    };
    let configs: Vec<(String, Config)> = kernels()
        .into_iter()
        .map(|kernel| {
            let config = Config {
                kernel: Some(kernel),
                ..Config::default()
            };
            (format!("{kernel:?}"), config)
        })
        .collect();
    table("kernels", &configs);
    if std::env::var_os("GEMM_TUNE_ALL").is_none() {
        return;
    }
    let mut configs = vec![(
        "ndarray".to_string(),
        Config {
            kernel: Some(Kernel::Ndarray),
            ..Config::default()
        },
    )];
    for orient in [Orient::Normal, Orient::Transposed] {
        for pack_a in [true, false] {
            for pack_b in [true, false] {
                let o = if orient == Orient::Normal { "N" } else { "T" };
                configs.push((
                    format!("{o} A{} B{}", u8::from(pack_a), u8::from(pack_b)),
                    Config {
                        orient,
                        pack_a: Some(pack_a),
                        pack_b: Some(pack_b),
                        ..Config::default()
                    },
                ));
            }
        }
    }
    table("packing (1: packed)", &configs);
    let mut configs = Vec::new();
    for kc in [192, 256, 320, 384, 512, 784] {
        for mc in [96, 192, 288] {
            configs.push((
                format!("{kc}/{mc}"),
                Config {
                    kc,
                    mc,
                    ..Config::default()
                },
            ));
        }
    }
    table("blockings kc/mc", &configs);
}

/// Operands read in place against packed, by the stride of their non-contiguous axis (the
/// measurement behind `IN_PLACE_STRIDE`):
/// `cargo test --release --test gemm -- --ignored in_place_stride --nocapture`
#[test]
#[ignore]
fn in_place_stride() {
    let (m, k, n) = (256, 784, 128);
    for lda in [256usize, 300, 512, 784, 1000, 1024, 2000] {
        let big = Array2::<f32>::from_shape_fn((lda, k).f(), |(i, j)| ((i + j) % 7) as f32);
        let a = big.slice(s![..m, ..]);
        let bigb = Array2::<f32>::from_shape_fn((lda.max(k), n).f(), |(i, j)| ((i * j) % 5) as f32);
        let b = bigb.slice(s![..k, ..]);
        let b_own = Array2::<f32>::from_shape_fn((k, n).f(), |(i, j)| ((i * j) % 5) as f32);
        let a_own = Array2::<f32>::from_shape_fn((m, k).f(), |(i, j)| ((i + j) % 7) as f32);
        let mut c = Array2::<f32>::zeros((m, n).f());
        let mut res = vec![Vec::new(); 4];
        for _ in 0..15 {
            for (x, pack) in [false, true].into_iter().enumerate() {
                let cfg = Config {
                    pack_a: Some(pack),
                    ..Config::default()
                };
                let t = std::time::Instant::now();
                for _ in 0..5 {
                    gemm::sgemm_with(&cfg, &a, &b_own.view(), 0.0, &mut c.view_mut()).unwrap();
                }
                res[x].push(5.0 * 2.0 * (m * k * n) as f64 / t.elapsed().as_secs_f64() / 1e9);
                let cfg = Config {
                    pack_b: Some(pack),
                    ..Config::default()
                };
                let t = std::time::Instant::now();
                for _ in 0..5 {
                    gemm::sgemm_with(&cfg, &a_own.view(), &b, 0.0, &mut c.view_mut()).unwrap();
                }
                res[2 + x].push(5.0 * 2.0 * (m * k * n) as f64 / t.elapsed().as_secs_f64() / 1e9);
            }
        }
        let r: Vec<f64> = res.into_iter().map(median).collect();
        println!(
            "ld {lda}: A in place {:.1}, packed {:.1}; B in place {:.1}, packed {:.1} GFLOP/s",
            r[0], r[1], r[2], r[3]
        );
    }
}
