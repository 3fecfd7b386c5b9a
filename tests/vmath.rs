//! Accuracy of the vectorised maths kernels (`diffstruc::ops::vmath`) against an f64 reference,
//! on every path the CPU has, and bit-identity between the paths.
//!
//! The default tests sweep a stride over all f32 bit patterns plus dense neighbourhoods of every
//! edge (about 6 million inputs per function). `exhaustive` (ignored: about a minute per
//! function on two cores) checks every f32; run it with
//! `cargo test --release --test vmath -- --ignored --nocapture`.

use diffstruc::ops::vmath::{self, Deriv, Func, Path, REDUCTION_LIMIT};

/// The promised bound.
const MAX_ULP: f64 = 2.0;

fn reference(f: Func, x: f32) -> f64 {
    let x = f64::from(x);
    match f {
        Func::Exp => x.exp(),
        Func::Ln => x.ln(),
        Func::Log10 => x.log10(),
        Func::Sqrt => x.sqrt(),
        Func::Tanh => x.tanh(),
        Func::Sigmoid => {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
    }
}

fn gaussian_reference(x: f32, mu: f32, sigma: f32) -> f64 {
    let (x, mu, sigma) = (f64::from(x), f64::from(mu), f64::from(sigma));
    let z = (x - mu) / sigma;
    (-0.5 * z * z).exp() / ((2.0 * std::f64::consts::PI).sqrt() * sigma)
}

/// Error of `y` against the exact value `r` in units in the last place of the f32 result
/// (2^-149 for subnormals); infinite if one is NaN and the other not.
fn ulp_error(y: f32, r: f64) -> f64 {
    if r.is_nan() || y.is_nan() {
        return if r.is_nan() && y.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let rf = r as f32;
    if rf.is_infinite() || y.is_infinite() {
        if y == rf {
            return 0.0;
        }
        // an infinity counts as 2^128 (one ulp above FLT_MAX's binade end)
        let big = |v: f64| {
            if v.is_infinite() {
                v.signum() * 2f64.powi(128)
            } else {
                v
            }
        };
        return (big(f64::from(y)) - big(r)).abs() / 2f64.powi(104);
    }
    let e = if r == 0.0 {
        -126
    } else {
        (((r.abs().to_bits() >> 52) as i32) - 1023).max(-126)
    };
    (f64::from(y) - r).abs() / 2f64.powi(e - 23)
}

/// Inputs: a stride over all bit patterns plus dense neighbourhoods of the edges.
fn sweep_inputs(f: Func) -> Vec<f32> {
    let mut v = Vec::new();
    let mut b: u64 = 0;
    while b < 1 << 32 {
        v.push(f32::from_bits(b as u32));
        b += 1021;
    }
    let mut around = |x: f32, n: i64| {
        for s in [1.0f32, -1.0] {
            let c = (x * s).to_bits() as i64;
            for d in -n..=n {
                let bits = c + d;
                if (0..=u32::MAX as i64).contains(&bits) {
                    v.push(f32::from_bits(bits as u32));
                }
            }
        }
    };
    // zero, subnormals, the normal/subnormal boundary, one, huge values, infinities
    for x in [0.0, f32::MIN_POSITIVE, 1.0, f32::MAX, f32::INFINITY] {
        around(x, 20_000);
    }
    for x in [
        1e-30, 1e-20, 1e-10, 1e-5, 1e-3, 0.1, 0.5, 2.0, 10.0, 100.0, 1e5, 1e10, 1e20,
    ] {
        around(x, 2000);
    }
    match f {
        Func::Exp | Func::Sigmoid => {
            // overflow, subnormal results, underflow to 0
            for x in [
                88.722_84,
                87.336_54,
                103.972_08,
                17.33,
                0.346_57,
                std::f32::consts::LN_2,
            ] {
                around(x, 100_000);
            }
        }
        Func::Tanh => {
            for x in [0.625, 9.01, 0.346_57, 0.173_29] {
                around(x, 100_000);
            }
        }
        Func::Ln | Func::Log10 => {
            for x in [
                std::f32::consts::SQRT_2,
                std::f32::consts::FRAC_1_SQRT_2,
                10.0,
                0.1,
            ] {
                around(x, 100_000);
            }
            around(1.0, 500_000);
        }
        Func::Sin | Func::Cos | Func::Tan => {
            // near multiples of pi/4 (reduction boundaries and zeros), up to and past the limit
            for k in 1..3000 {
                let x = k as f64 * std::f64::consts::FRAC_PI_4;
                around(x as f32, 300);
            }
            for k in (1..80_000).step_by(97) {
                let x = k as f64 * std::f64::consts::FRAC_PI_2;
                around(x as f32, 20);
            }
            around(REDUCTION_LIMIT, 20_000);
        }
        Func::Sqrt => {}
    }
    v.extend([
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
    ]);
    v
}

/// Evaluates a kernel on a path into a buffer.
type EvalFn<'a> = dyn Fn(Path, &[f32], &mut [f32]) + Sync + 'a;
/// The exact value of the function at an input.
type RefFn<'a> = dyn Fn(f32) -> f64 + Sync + 'a;

#[derive(Default, Clone, Copy)]
struct Worst {
    /// largest error where the exact result is a normal f32 (or rounds to ±inf)
    normal: f64,
    err: f64,
    x: f32,
    y: f32,
}

/// Evaluates `eval` on every path over `xs` (in chunks, on two threads), checks the paths agree
/// bit for bit, and returns the worst error against `refr` (taken from the first path).
fn measure(xs: &[f32], eval: &EvalFn, refr: &RefFn) -> Worst {
    let paths = Path::available();
    let chunks: Vec<&[f32]> = xs.chunks(1 << 16).collect();
    let half = chunks.len().div_ceil(2);
    let run = |part: &[&[f32]]| {
        let mut worst = Worst::default();
        let mut outs: Vec<Vec<f32>> = vec![Vec::new(); paths.len()];
        for chunk in part {
            for (p, out) in paths.iter().zip(outs.iter_mut()) {
                out.resize(chunk.len(), 0.0);
                eval(*p, chunk, out);
            }
            for (i, &x) in chunk.iter().enumerate() {
                let y = outs[0][i];
                for (p, out) in paths.iter().zip(&outs).skip(1) {
                    let same = out[i].to_bits() == y.to_bits() || (out[i].is_nan() && y.is_nan());
                    assert!(
                        same,
                        "{p:?} gives {:e} and {:?} {y:e} for {x:e}",
                        out[i], paths[0]
                    );
                }
                let r = refr(x);
                let err = ulp_error(y, r);
                if r.abs() >= f64::from(f32::MIN_POSITIVE) {
                    worst.normal = worst.normal.max(err);
                }
                if err > worst.err {
                    worst = Worst { err, x, y, ..worst };
                }
            }
        }
        worst
    };
    let (a, b) = std::thread::scope(|s| {
        let h = s.spawn(|| run(&chunks[..half]));
        let b = run(&chunks[half..]);
        (h.join().expect("worker"), b)
    });
    let normal = a.normal.max(b.normal);
    let w = if a.err >= b.err { a } else { b };
    Worst { normal, ..w }
}

fn check_func(f: Func, xs: &[f32]) -> Worst {
    let w = measure(xs, &|p, x, out| vmath::eval_on(p, f, x, out), &|x| {
        reference(f, x)
    });
    println!(
        "{:8} paths {:?}: max {:.3} ulp (normal results {:.3}) at x = {:e} ({:#010x}): got {:e}, exact {:e}",
        f.name(),
        Path::available(),
        w.err,
        w.normal,
        w.x,
        w.x.to_bits(),
        w.y,
        reference(f, w.x)
    );
    w
}

fn sweep(f: Func) {
    let w = check_func(f, &sweep_inputs(f));
    assert!(
        w.err <= MAX_ULP,
        "{}: {:.3} ulp at {:e}",
        f.name(),
        w.err,
        w.x
    );
}

#[test]
fn exp_sweep() {
    sweep(Func::Exp)
}
#[test]
fn ln_sweep() {
    sweep(Func::Ln)
}
#[test]
fn log10_sweep() {
    sweep(Func::Log10)
}
#[test]
fn sqrt_sweep() {
    sweep(Func::Sqrt)
}
#[test]
fn tanh_sweep() {
    sweep(Func::Tanh)
}
#[test]
fn sigmoid_sweep() {
    sweep(Func::Sigmoid)
}
#[test]
fn sin_sweep() {
    sweep(Func::Sin)
}
#[test]
fn cos_sweep() {
    sweep(Func::Cos)
}
#[test]
fn tan_sweep() {
    sweep(Func::Tan)
}

const GAUSS_PARAMS: [(f32, f32); 5] = [
    (0.0, 1.0),
    (0.3, 0.05),
    (-2.0, 3.5),
    (1.0, -0.7),
    (0.0, 1e-3),
];

#[test]
fn gaussian_sweep() {
    let mut xs: Vec<f32> = (0..1_000_000)
        .map(|i| (i as f32 - 500_000.0) * 4e-5)
        .collect();
    xs.extend(sweep_inputs(Func::Sqrt).into_iter().step_by(3));
    for (mu, sigma) in GAUSS_PARAMS {
        let w = measure(
            &xs,
            &|p, x, out| vmath::gaussian_on(p, x, mu, sigma, out),
            &|x| gaussian_reference(x, mu, sigma),
        );
        println!(
            "gaussian(mu {mu}, sigma {sigma}): max {:.3} ulp (normal results {:.3}) at x = {:e}: got {:e}, exact {:e}",
            w.err,
            w.normal,
            w.x,
            w.y,
            gaussian_reference(w.x, mu, sigma)
        );
        assert!(w.err <= MAX_ULP, "gaussian: {:.3} ulp at {:e}", w.err, w.x);
    }
}

#[test]
fn special_values() {
    let cases: &[(Func, f32, f32)] = &[
        (Func::Exp, f32::NEG_INFINITY, 0.0),
        (Func::Exp, f32::INFINITY, f32::INFINITY),
        (Func::Exp, 0.0, 1.0),
        (Func::Exp, -0.0, 1.0),
        (Func::Exp, 89.0, f32::INFINITY),
        (Func::Exp, -104.0, 0.0),
        (Func::Ln, 0.0, f32::NEG_INFINITY),
        (Func::Ln, -0.0, f32::NEG_INFINITY),
        (Func::Ln, 1.0, 0.0),
        (Func::Ln, f32::INFINITY, f32::INFINITY),
        (Func::Log10, 0.0, f32::NEG_INFINITY),
        (Func::Log10, 1.0, 0.0),
        (Func::Log10, 1000.0, 3.0),
        (Func::Log10, f32::INFINITY, f32::INFINITY),
        (Func::Sqrt, -0.0, -0.0),
        (Func::Sqrt, f32::INFINITY, f32::INFINITY),
        (Func::Tanh, f32::INFINITY, 1.0),
        (Func::Tanh, f32::NEG_INFINITY, -1.0),
        (Func::Tanh, -0.0, -0.0),
        (Func::Sigmoid, f32::INFINITY, 1.0),
        (Func::Sigmoid, f32::NEG_INFINITY, 0.0),
        (Func::Sigmoid, 0.0, 0.5),
        (Func::Sin, -0.0, -0.0),
        (Func::Sin, 0.0, 0.0),
        (Func::Cos, -0.0, 1.0),
        (Func::Tan, -0.0, -0.0),
    ];
    let nan_in: &[(Func, f32)] = &[
        (Func::Ln, -1.0),
        (Func::Ln, f32::NEG_INFINITY),
        (Func::Log10, -1e-30),
        (Func::Sqrt, -1.0),
        (Func::Sin, f32::INFINITY),
        (Func::Cos, f32::NEG_INFINITY),
        (Func::Tan, f32::INFINITY),
    ];
    for p in Path::available() {
        let mut out = [0.0f32; 1];
        for &(f, x, want) in cases {
            vmath::eval_on(p, f, &[x], &mut out);
            assert_eq!(
                out[0].to_bits(),
                want.to_bits(),
                "{p:?} {}({x:e}) = {:e}",
                f.name(),
                out[0]
            );
        }
        for &(f, x) in nan_in {
            vmath::eval_on(p, f, &[x], &mut out);
            assert!(out[0].is_nan(), "{p:?} {}({x:e}) = {:e}", f.name(), out[0]);
        }
        for f in Func::ALL {
            vmath::eval_on(p, f, &[f32::NAN], &mut out);
            assert!(out[0].is_nan(), "{p:?} {}(NaN) = {:e}", f.name(), out[0]);
        }
        vmath::gaussian_on(p, &[f32::INFINITY, f32::NAN], 0.0, 1.0, &mut [0.0; 2]);
        let mut g = [1.0f32; 3];
        vmath::gaussian_on(
            p,
            &[f32::INFINITY, f32::NEG_INFINITY, f32::NAN],
            0.0,
            1.0,
            &mut g,
        );
        assert!(
            g[0] == 0.0 && g[1] == 0.0 && g[2].is_nan(),
            "{p:?} gaussian {g:?}"
        );
    }
}

/// Every length from 0 to 100 and every offset: an element's result does not depend on its
/// position in the slice (partial vectors are computed like whole ones).
#[test]
fn position_independent() {
    let xs: Vec<f32> = (0..131).map(|i| (i as f32 - 60.0) * 0.37).collect();
    for p in Path::available() {
        for f in Func::ALL {
            let mut full = vec![0.0; xs.len()];
            vmath::eval_on(p, f, &xs, &mut full);
            for start in 0..20 {
                for len in 0..(xs.len() - start).min(100) {
                    let mut out = vec![0.0; len];
                    vmath::eval_on(p, f, &xs[start..start + len], &mut out);
                    for (a, b) in out.iter().zip(&full[start..start + len]) {
                        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                    }
                }
            }
        }
    }
}

/// The derivative kernels compute the forward rules' expressions exactly.
#[test]
fn derivatives_match_their_expressions() {
    let x: Vec<f32> = (0..1000)
        .map(|i| (i as f32 - 400.0) * 0.013 + 0.001)
        .collect();
    let g: Vec<f32> = (0..1000)
        .map(|i| ((i * 7919) % 1000) as f32 * 0.01 - 3.0)
        .collect();
    let value = |f: Func| {
        let mut c = vec![0.0; x.len()];
        vmath::eval(f, &x, &mut c);
        c
    };
    type Rule = fn(f32, f32, f32, f32, f32) -> f32; // (g, x, c, cos x, sin x)
    let rules: [(Deriv, Func, bool, Rule); 9] = [
        (Deriv::Exp, Func::Exp, false, |g, _, c, _, _| g * c),
        (Deriv::Ln, Func::Ln, true, |g, x, _, _, _| g / x),
        (Deriv::Log10, Func::Log10, true, |g, x, _, _, _| {
            g / (x * std::f32::consts::LN_10)
        }),
        (Deriv::Sqrt, Func::Sqrt, false, |g, _, c, _, _| {
            (g * 0.5) / c
        }),
        (Deriv::Tanh, Func::Tanh, false, |g, _, c, _, _| {
            g * (1.0 - c * c)
        }),
        (Deriv::Sigmoid, Func::Sigmoid, false, |g, _, c, _, _| {
            g * (c * (1.0 - c))
        }),
        (Deriv::Sin, Func::Sin, true, |g, _, _, cs, _| g * cs),
        (Deriv::Cos, Func::Cos, true, |g, _, _, _, sn| -(g * sn)),
        (Deriv::Tan, Func::Tan, false, |g, _, c, _, _| {
            g * (c * c + 1.0)
        }),
    ];
    let (cosx, sinx) = (value(Func::Cos), value(Func::Sin));
    for p in Path::available() {
        for (d, f, from_x, rule) in rules {
            let c = value(f);
            let v = if from_x { &x } else { &c };
            let mut out = vec![0.0; x.len()];
            vmath::deriv_on(p, d, &g, v, &mut out);
            for i in 0..x.len() {
                let want = rule(g[i], x[i], c[i], cosx[i], sinx[i]);
                assert!(
                    out[i].to_bits() == want.to_bits() || (out[i].is_nan() && want.is_nan()),
                    "{p:?} {d:?} at {}: {} vs {}",
                    x[i],
                    out[i],
                    want
                );
            }
        }
        let (mu, sigma) = (0.2f32, 0.8f32);
        let mut c = vec![0.0; x.len()];
        vmath::gaussian(&x, mu, sigma, &mut c);
        let mut out = vec![0.0; x.len()];
        vmath::gaussian_deriv_on(p, &g, &x, &c, mu, sigma, &mut out);
        let k = -1.0 / (sigma * sigma);
        for i in 0..x.len() {
            assert_eq!(
                out[i].to_bits(),
                (g[i] * ((c[i] * (x[i] - mu)) * k)).to_bits()
            );
        }
    }
}

/// Every f32, every function, every path (slow: run with `--ignored`).
#[test]
#[ignore]
fn exhaustive() {
    let only = std::env::var("VMATH_ONLY").ok();
    for f in Func::ALL {
        if only.as_deref().is_some_and(|o| o != f.name()) {
            continue;
        }
        let mut worst = Worst::default();
        let mut xs = Vec::with_capacity(1 << 26);
        for block in 0u64..64 {
            xs.clear();
            xs.extend((block << 26..(block + 1) << 26).map(|b| f32::from_bits(b as u32)));
            let w = measure(&xs, &|p, x, out| vmath::eval_on(p, f, x, out), &|x| {
                reference(f, x)
            });
            let normal = worst.normal.max(w.normal);
            if w.err > worst.err {
                worst = w;
            }
            worst.normal = normal;
        }
        println!(
            "EXHAUSTIVE {:8} paths {:?}: max {:.3} ulp (normal results {:.3}) at x = {:e} ({:#010x}): got {:e}, exact {:e}",
            f.name(),
            Path::available(),
            worst.err,
            worst.normal,
            worst.x,
            worst.x.to_bits(),
            worst.y,
            reference(f, worst.x)
        );
        assert!(worst.err <= MAX_ULP);
    }
}

/// Through the operations: forward and reverse mode give bit-identical first derivatives for
/// every element-wise function, the gaussian and the exponent of a power, and the values are
/// the kernels' values.
#[test]
fn operations_forward_equals_reverse() {
    use diffstruc::{gaussian, grad_forward, grad_reverse, pow, unary, Tensor, UnaryOp};
    let data: Vec<f32> = (0..203)
        .map(|i| (i as f32 - 90.0) * 0.0173 + 0.0011)
        .collect();
    let positive: Vec<f32> = data.iter().map(|x| x.abs() + 0.01).collect();
    let ops = [
        (UnaryOp::Exp, Some(Func::Exp)),
        (UnaryOp::Log, Some(Func::Ln)),
        (UnaryOp::Log10, Some(Func::Log10)),
        (UnaryOp::Sqrt, Some(Func::Sqrt)),
        (UnaryOp::Sigmoid, Some(Func::Sigmoid)),
        (UnaryOp::Sin, Some(Func::Sin)),
        (UnaryOp::Cos, Some(Func::Cos)),
        (UnaryOp::Tan, Some(Func::Tan)),
        (UnaryOp::Tanh, Some(Func::Tanh)),
        (UnaryOp::Abs, None),
        (UnaryOp::Neg, None),
    ];
    let same = |a: &[f32], b: &[f32], what: &str| {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(x.to_bits() == y.to_bits(), "{what} [{i}]: {x:e} vs {y:e}");
        }
    };
    let check = |name: &str, x: &Tensor, f: &Tensor| {
        let fwd = grad_forward(f, x).expect("forward");
        grad_reverse(f, None).expect("reverse");
        let rev = x.grad().expect("gradient");
        same(&fwd.to_vec(), &rev.to_vec(), name);
        x.zero_grad();
    };
    for (op, func) in ops {
        let v = if matches!(op, UnaryOp::Log | UnaryOp::Log10 | UnaryOp::Sqrt) {
            positive.clone()
        } else {
            data.clone()
        };
        let x = Tensor::from_vec(&[29], 7, v.clone()).expect("tensor");
        x.set_requires_grad(true);
        let f = unary(op, &x).expect("unary");
        if let Some(func) = func {
            let mut want = vec![0.0; v.len()];
            vmath::eval(func, &v, &mut want);
            same(&f.to_vec(), &want, op.name());
        }
        check(op.name(), &x, &f);
    }
    let x = Tensor::from_vec(&[29], 7, data.clone()).expect("tensor");
    x.set_requires_grad(true);
    let f = gaussian(&x, 0.3, 0.7).expect("gaussian");
    let mut want = vec![0.0; data.len()];
    vmath::gaussian(&data, 0.3, 0.7, &mut want);
    same(&f.to_vec(), &want, "gaussian");
    check("gaussian", &x, &f);
    // d(a**b)/db = a**b ln a
    let a = Tensor::from_vec(&[29], 7, positive.clone()).expect("tensor");
    let b = Tensor::from_vec(&[29], 7, data.clone()).expect("tensor");
    b.set_requires_grad(true);
    let f = pow(&a, &b).expect("pow");
    check("pow exponent", &b, &f);
}
