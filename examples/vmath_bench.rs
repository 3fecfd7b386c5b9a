//! Micro-benchmark of the vectorised maths kernels (`diffstruc::ops::vmath`): nanoseconds per
//! element for each function on each available path, against the standard library's scalar
//! f32 functions (glibc's `expf`, `logf`, ... on Linux) in a plain loop.
//!
//! ```sh
//! cargo run --release --example vmath_bench            # 4096 values (in L1) and 100,000 (W1's size)
//! cargo run --release --example vmath_bench -- 1000000 # other sizes
//! ```

use std::hint::black_box;
use std::time::Instant;

use diffstruc::ops::vmath::{self, Deriv, Func, Path};

/// Median time per element of `f` over `reps` runs, in nanoseconds.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    let inner = (2_000_000 / n).max(1);
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..inner {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / (inner * n) as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn std_fn(f: Func) -> fn(f32) -> f32 {
    match f {
        Func::Exp => f32::exp,
        Func::Ln => f32::ln,
        Func::Log10 => f32::log10,
        Func::Sqrt => f32::sqrt,
        Func::Tanh => f32::tanh,
        Func::Sigmoid => |x| 1.0 / (1.0 + (-x).exp()),
        Func::Sin => f32::sin,
        Func::Cos => f32::cos,
        Func::Tan => f32::tan,
    }
}

fn inputs(f: Func, n: usize) -> Vec<f32> {
    let (lo, hi) = match f {
        Func::Exp => (-10.0, 10.0),
        Func::Ln | Func::Log10 | Func::Sqrt => (1e-3, 100.0),
        Func::Tanh | Func::Sigmoid => (-5.0, 5.0),
        Func::Sin | Func::Cos | Func::Tan => (-10.0, 10.0),
    };
    // a fixed pseudo-random order, so branches in the scalar functions are not predictable
    let mut s = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            lo + (hi - lo) * (s as f32 / u32::MAX as f32)
        })
        .collect()
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![4096, 100_000]
    } else {
        sizes
    };
    let paths = Path::available();
    println!(
        "selected path: {:?}; ns/element (median of 15)",
        Path::selected()
    );
    for &n in &sizes {
        print!("\n{n:>7} values  {:>10}", "std");
        for p in &paths {
            print!(" {:>10}", p.name());
        }
        println!(
            "   speed-up of {} over std, results that differ from std's",
            Path::selected().name()
        );
        let mut out = vec![0.0f32; n];
        for f in Func::ALL {
            let x = inputs(f, n);
            let sf = std_fn(f);
            let t_std = time(n, || {
                for (o, &v) in out.iter_mut().zip(black_box(&x)) {
                    *o = sf(v);
                }
                black_box(&out);
            });
            print!("{:>15} {t_std:>10.3}", f.name());
            let mut best = t_std;
            for &p in &paths {
                let t = time(n, || {
                    vmath::eval_on(p, f, black_box(&x), &mut out);
                    black_box(&out);
                });
                if p == Path::selected() {
                    best = t;
                }
                print!(" {t:>10.3}");
            }
            // how often the result differs from std's (both are within about 1 ulp)
            let mut std_out = vec![0.0f32; n];
            for (o, &v) in std_out.iter_mut().zip(&x) {
                *o = sf(v);
            }
            vmath::eval(f, &x, &mut out);
            let differ = out
                .iter()
                .zip(&std_out)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            println!(
                "   {:>6.1}x   {:.2}% differ from std",
                t_std / best,
                100.0 * differ as f64 / n as f64
            );
        }
        // a derivative kernel that needs a transcendental (sin's: g * cos x) and one that does not
        let g = inputs(Func::Tanh, n);
        for (name, d, f) in [
            ("d sin", Deriv::Sin, Func::Sin),
            ("d tanh", Deriv::Tanh, Func::Tanh),
        ] {
            let x = inputs(f, n);
            let t_std = time(n, || {
                for ((o, &g), &v) in out.iter_mut().zip(black_box(&g)).zip(black_box(&x)) {
                    *o = match d {
                        Deriv::Sin => g * v.cos(),
                        _ => g * (1.0 - v * v),
                    };
                }
                black_box(&out);
            });
            print!("{name:>15} {t_std:>10.3}");
            let mut best = t_std;
            for &p in &paths {
                let t = time(n, || {
                    vmath::deriv_on(p, d, black_box(&g), black_box(&x), &mut out);
                    black_box(&out);
                });
                if p == Path::selected() {
                    best = t;
                }
                print!(" {t:>10.3}");
            }
            println!("   {:>6.1}x", t_std / best);
        }
    }
}
