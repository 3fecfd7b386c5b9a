//! The thread setting: with 2 and 3 threads, element-wise work (values and gradients, every
//! broadcast form) is bit-identical to 1 thread, and matrix products equal it (bit-identical with
//! the AVX-512 kernel); bad settings are refused. One test function: the setting is process-wide.

use diffstruc::*;

/// Deterministic pseudo-random values in `[lo, hi]`.
fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// Values and gradients of an element-wise graph big enough to be split (every broadcast form:
/// array-array, array-sample, array-scalar) and of an MLP-sized product.
fn workload() -> Vec<Vec<f32>> {
    let (e, s) = (1000, 300);
    let x = Tensor::from_vec(&[e], s, uniform(e * s, -2.0, 2.0, 1)).unwrap();
    let y = Tensor::from_vec(&[e], s, uniform(e * s, 0.5, 3.0, 2)).unwrap();
    let w = Tensor::from_vec(&[e], 1, uniform(e, -1.0, 1.0, 3)).unwrap();
    for t in [&x, &y, &w] {
        t.set_requires_grad(true);
    }
    let t1 = mul(&x, &y).unwrap();
    let t2 = div(
        &unary(UnaryOp::Exp, &mul_scalar(&x, 0.3).unwrap()).unwrap(),
        &y,
    )
    .unwrap();
    let t3 = mul(&unary(UnaryOp::Tanh, &x).unwrap(), &w).unwrap();
    let t4 = unary(UnaryOp::Sigmoid, &sub(&w, &y).unwrap()).unwrap();
    let f = add(&add(&t1, &t2).unwrap(), &add(&t3, &t4).unwrap()).unwrap();
    let root = sum_all(&unary(UnaryOp::Sin, &f).unwrap()).unwrap();
    grad_reverse(&root, None).unwrap();

    let a = Tensor::from_vec(&[256, 784], 1, uniform(256 * 784, -0.1, 0.1, 4)).unwrap();
    let b = Tensor::from_vec(&[784], 128, uniform(784 * 128, 0.0, 1.0, 5)).unwrap();
    let c = matmul(&a, &b).unwrap();
    vec![
        f.to_vec(),
        root.to_vec(),
        x.grad().unwrap().to_vec(),
        y.grad().unwrap().to_vec(),
        w.grad().unwrap().to_vec(),
        c.to_vec(),
    ]
}

#[test]
fn results_do_not_depend_on_the_thread_setting() {
    assert_eq!(diffstruc::core::num_threads(), 1, "one thread by default");
    let one = workload();
    for n in [2, 3] {
        diffstruc::core::set_num_threads(n).unwrap();
        assert_eq!(diffstruc::core::num_threads(), n);
        let many = workload();
        // element-wise values and gradients: the same bits (the root and the broadcast
        // operand's gradient are sums, which always run on one thread)
        for (k, (a, b)) in one.iter().zip(&many).enumerate().take(5) {
            let same = a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same, "output {k} differs with {n} threads");
        }
        // the product: the same bits with the library's own kernel (its sums do not depend on
        // the columns computed together), equal to within rounding with ndarray's
        if diffstruc::ops::gemm::Kernel::for_columns(128) != diffstruc::ops::gemm::Kernel::Ndarray {
            let same = one[5]
                .iter()
                .zip(&many[5])
                .all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same, "matmul differs with {n} threads");
        }
        let worst = one[5]
            .iter()
            .zip(&many[5])
            .map(|(p, q)| (p - q).abs() / p.abs().max(1.0))
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-6, "matmul differs by {worst} with {n} threads");
    }
    for bad in [0, 100_000] {
        let err = diffstruc::core::set_num_threads(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Argument);
        assert!(err.to_string().contains("between 1 and"), "{err}");
    }
    assert_eq!(
        diffstruc::core::num_threads(),
        3,
        "a refused setting changes nothing"
    );
    diffstruc::core::set_num_threads(1).unwrap();
    assert_eq!(diffstruc::core::num_threads(), 1);
}
