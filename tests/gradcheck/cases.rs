// The test cases of gradcheck.rs and gradcheck_f64.rs, for arrays of element type `R` with
// tolerance `TOL` (included by both).
use common::{check, input, shared};
use diffstruc::*;


fn binary_ops() -> [(BinaryOp, R, R); 6] {
    // (op, lo, hi) of operand values keeping every derivative smooth and away from poles
    [
        (BinaryOp::Add, -2.0, 2.0),
        (BinaryOp::Sub, -2.0, 2.0),
        (BinaryOp::Mul, -2.0, 2.0),
        (BinaryOp::Div, 0.5, 2.0),
        (BinaryOp::Pow, 0.5, 1.5),
        (BinaryOp::Max, -2.0, 2.0),
    ]
}

#[test]
fn binary_array_array_same_extents() {
    for (op, lo, hi) in binary_ops() {
        let a = input(&[3], 2, lo, hi, 1);
        let b = input(&[3], 2, lo, hi, 2);
        check(
            &format!("{op:?}"),
            vec![a, b],
            |x| binary(op, &x[0], &x[1]),
            TOL,
        );
    }
}

#[test]
fn binary_broadcast_shared_operand_over_batch() {
    // a weight shared by the batch (is_sample_dependent = false, one sample), on either side
    for (op, lo, hi) in binary_ops() {
        let a = input(&[3], 4, lo, hi, 3);
        let w = shared(input(&[3], 1, lo, hi, 4));
        check(
            &format!("{op:?} a*w"),
            vec![a.clone(), w.clone()],
            |x| binary(op, &x[0], &x[1]),
            TOL,
        );
        check(
            &format!("{op:?} w*a"),
            vec![w, a],
            |x| binary(op, &x[0], &x[1]),
            TOL,
        );
    }
}

#[test]
fn binary_broadcast_per_sample_scalar() {
    // one element per sample against a full sample, both orders
    for (op, lo, hi) in binary_ops() {
        let a = input(&[2, 2], 3, lo, hi, 5);
        let s = input(&[1], 3, lo, hi, 6);
        check(
            &format!("{op:?} a*s"),
            vec![a.clone(), s.clone()],
            |x| binary(op, &x[0], &x[1]),
            TOL,
        );
        check(
            &format!("{op:?} s*a"),
            vec![s, a],
            |x| binary(op, &x[0], &x[1]),
            TOL,
        );
    }
}

#[test]
fn binary_with_real_scalar_both_sides() {
    for (op, lo, hi) in binary_ops() {
        let a = input(&[3], 2, lo, hi, 7);
        check(
            &format!("{op:?} a*1.3"),
            vec![a.clone()],
            |x| binary_scalar(op, &x[0], 1.3),
            TOL,
        );
        check(
            &format!("{op:?} 1.3*a"),
            vec![a],
            |x| scalar_binary(op, 1.3, &x[0]),
            TOL,
        );
    }
}

#[test]
fn integer_and_special_powers() {
    let a = input(&[3], 2, -2.0, 2.0, 8);
    for e in [0.0, 1.0, 2.0, 3.0, -1.0] {
        let a = if e < 0.0 {
            input(&[3], 2, 0.5, 2.0, 8)
        } else {
            a.clone()
        };
        check(&format!("a**{e}"), vec![a], |x| pow_scalar(&x[0], e), TOL);
    }
}

#[test]
fn binary_with_real_vectors_and_matrices() {
    let a = input(&[3], 2, 0.5, 2.0, 9);
    let add_v = [0.1, -0.2, 0.3]; // length E: added to every sample
    let per_sample = [1.5, -0.7]; // length S
    check(
        "a + r1",
        vec![a.clone()],
        |x| binary_real1d(BinaryOp::Add, &x[0], &add_v),
        TOL,
    );
    check(
        "a - r1",
        vec![a.clone()],
        |x| binary_real1d(BinaryOp::Sub, &x[0], &per_sample),
        TOL,
    );
    check(
        "a / r1",
        vec![a.clone()],
        |x| binary_real1d(BinaryOp::Div, &x[0], &per_sample),
        TOL,
    );
    let m: Vec<R> = (0..6).map(|k| 0.3 * k as R - 0.5).collect();
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul] {
        check(
            &format!("a {op:?} r2"),
            vec![a.clone()],
            |x| binary_real2d(op, &x[0], &m, 3, 2),
            TOL,
        );
    }
    for op in [BinaryOp::Add, BinaryOp::Mul] {
        check(
            &format!("r2 {op:?} a"),
            vec![a.clone()],
            |x| real2d_binary(op, &m, 3, 2, &x[0]),
            TOL,
        );
    }
}

#[test]
fn real_vector_forms_have_diffstruc_values() {
    let a = Tensor::from_vec(&[2], 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let p = binary_real1d(BinaryOp::Add, &a, &[10.0, 20.0]).unwrap();
    assert_eq!(p.to_vec(), [11.0, 22.0, 13.0, 24.0]);
    let m = binary_real1d(BinaryOp::Sub, &a, &[1.0, 2.0]).unwrap();
    assert_eq!(m.to_vec(), [0.0, 1.0, 1.0, 2.0]);
    let d = binary_real1d(BinaryOp::Div, &a, &[1.0, 2.0]).unwrap();
    assert_eq!(d.to_vec(), [1.0, 2.0, 1.5, 2.0]);
    // reverse through a - r1 is +1 (diffstruc gives -1: spec 5.2 #1)
    a.set_requires_grad(true);
    let m = binary_real1d(BinaryOp::Sub, &a, &[1.0, 2.0]).unwrap();
    grad_reverse(&m, None).unwrap();
    assert_eq!(a.grad().unwrap().to_vec(), [1.0; 4]);
}

#[test]
fn negation() {
    check(
        "-a",
        vec![input(&[3], 2, -1.0, 1.0, 10)],
        |x| neg(&x[0]),
        TOL,
    );
}

#[test]
fn elementwise_maths() {
    use UnaryOp::*;
    let cases = [
        (Exp, -1.0, 1.0),
        (Log, 0.5, 2.0),
        (Log10, 0.5, 2.0),
        (Sqrt, 0.5, 2.0),
        (Abs, 0.2, 1.0),
        (Sigmoid, -2.0, 2.0),
        (Sin, -2.0, 2.0),
        (Cos, -2.0, 2.0),
        (Tan, -1.0, 1.0),
        (Tanh, -1.5, 1.5),
        (Asin, -0.8, 0.8),
        (Acos, -0.8, 0.8),
        (Atan, -2.0, 2.0),
        (Sinh, -1.5, 1.5),
        (Cosh, -1.5, 1.5),
    ];
    for (op, lo, hi) in cases {
        check(
            &format!("{op:?}"),
            vec![input(&[2, 2], 2, lo, hi, 11)],
            |x| unary(op, &x[0]),
            TOL,
        );
    }
    // abs on negative values too (diffstruc's derivative is always +1: spec 5.2 #6)
    check(
        "abs(neg)",
        vec![input(&[3], 1, -1.0, -0.2, 12)],
        |x| unary(Abs, &x[0]),
        TOL,
    );
}

#[test]
fn gaussian_uses_mu() {
    check(
        "gaussian",
        vec![input(&[3], 2, -1.0, 2.0, 13)],
        |x| gaussian(&x[0], 0.7, 1.3),
        TOL,
    );
}

#[test]
fn reductions() {
    let a = input(&[2, 2], 3, -1.0, 1.0, 14);
    for dim in [1, 2] {
        check(
            &format!("sum dim {dim}"),
            vec![a.clone()],
            |x| sum(&x[0], dim),
            TOL,
        );
        check(
            &format!("mean dim {dim}"),
            vec![a.clone()],
            |x| mean(&x[0], dim),
            TOL,
        );
    }
    check("sum all", vec![a.clone()], |x| sum_all(&x[0]), TOL);
    check("mean all", vec![a], |x| mean_all(&x[0]), TOL);
}

#[test]
fn reduction_shapes_follow_diffstruc() {
    let a = Tensor::from_vec(&[2, 3], 4, (0..24).map(|v| v as R).collect()).unwrap();
    let s1 = sum(&a, 1).unwrap();
    assert_eq!((s1.shape(), s1.batch()), (&[1usize][..], 4));
    assert_eq!(s1.to_vec(), [15.0, 51.0, 87.0, 123.0]);
    let s2 = sum(&a, 2).unwrap();
    assert_eq!((s2.shape(), s2.batch()), (&[2usize, 3][..], 1));
    assert!(!s2.is_sample_dependent());
    assert_eq!(s2.to_vec()[0], 0.0 + 6.0 + 12.0 + 18.0);
    assert_eq!(sum_all(&a).unwrap().to_vec(), [276.0]);
    assert_eq!(mean_all(&a).unwrap().to_vec(), [11.5]);
    assert_eq!(
        mean(&a, 2).unwrap().to_vec()[5],
        (5.0 + 11.0 + 17.0 + 23.0) / 4.0
    );
    for dim in [0, 3, -1] {
        let e = sum(&a, dim).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Argument);
        assert!(e.message().contains("dim"), "{e}");
    }
}

#[test]
fn composite_w1_expression_with_shared_subexpressions() {
    let x = input(&[4], 3, -1.0, 1.0, 15);
    let y = input(&[4], 3, -1.0, 1.0, 16);
    check(
        "x**2 + y*x + exp(x*0.01)",
        vec![x, y],
        |v| {
            let (x, y) = (&v[0], &v[1]);
            Ok(&(&pow_scalar(x, 2.0)? + &(y * x)) + &unary(UnaryOp::Exp, &mul_scalar(x, 0.01)?)?)
        },
        TOL,
    );
}

#[test]
fn composite_mlp_like_with_shared_weights() {
    let x = input(&[3], 4, -1.0, 1.0, 17);
    let w = shared(input(&[3], 1, -1.0, 1.0, 18));
    let b = shared(input(&[1], 1, -0.5, 0.5, 19));
    check(
        "mean((tanh(sum(w*x,1)+b) - 0.3)**2)",
        vec![x, w, b],
        |v| {
            let h = unary(UnaryOp::Tanh, &add(&sum(&mul(&v[1], &v[0])?, 1)?, &v[2])?)?;
            mean_all(&pow_scalar(&sub_scalar(&h, 0.3)?, 2.0)?)
        },
        TOL,
    );
}

#[test]
fn matmul_every_layout() {
    // shared matrix times a batch of vectors (W·x), vector times shared matrix (x·W)
    let w = shared(input(&[3, 4], 1, -1.0, 1.0, 20));
    let x = input(&[4], 5, -1.0, 1.0, 21);
    check(
        "W.x",
        vec![w.clone(), x.clone()],
        |v| matmul(&v[0], &v[1]),
        TOL,
    );
    let x3 = input(&[3], 5, -1.0, 1.0, 22);
    check("x.W", vec![x3, w.clone()], |v| matmul(&v[0], &v[1]), TOL);
    // per-sample matrices (diffstruc stops here): matrix·matrix, matrix·vector, vector·matrix
    let a = input(&[2, 3], 2, -1.0, 1.0, 23);
    let b = input(&[3, 2], 2, -1.0, 1.0, 24);
    check(
        "A_s.B_s",
        vec![a.clone(), b.clone()],
        |v| matmul(&v[0], &v[1]),
        TOL,
    );
    let c = input(&[3], 2, -1.0, 1.0, 25);
    check(
        "A_s.c_s",
        vec![a.clone(), c.clone()],
        |v| matmul(&v[0], &v[1]),
        TOL,
    );
    check("c_s.B_s", vec![c, b.clone()], |v| matmul(&v[0], &v[1]), TOL);
    // shared matrix times per-sample matrices, and two shared matrices
    check(
        "W.B_s",
        vec![w.clone(), input(&[4, 2], 3, -1.0, 1.0, 26)],
        |v| matmul(&v[0], &v[1]),
        TOL,
    );
    check(
        "W.V",
        vec![w, shared(input(&[4, 2], 1, -1.0, 1.0, 27))],
        |v| matmul(&v[0], &v[1]),
        TOL,
    );
}

#[test]
fn matmul_with_real_matrices() {
    let m: Vec<R> = (0..12).map(|k| 0.1 * k as R - 0.5).collect();
    // array (flattened, 4 values) times a 4x3 real matrix, and a 3x4 real matrix times it
    let a = input(&[2, 2], 3, -1.0, 1.0, 28);
    check(
        "a.M",
        vec![a.clone()],
        |v| matmul_real2d(&v[0], &m, 4, 3),
        TOL,
    );
    check("M.a", vec![a], |v| real2d_matmul(&m, 3, 4, &v[0]), TOL);
    let x = Tensor::from_vec(&[2], 1, vec![1.0, 2.0]).unwrap();
    x.set_requires_grad(true);
    let y = matmul_real2d(&x, &[1.0, 2.0, 3.0, 4.0], 2, 2).unwrap(); // [1 3; 2 4]: x^T M
    assert_eq!(y.to_vec(), [5.0, 11.0]);
    assert_eq!(y.operation(), "matmul_scalar");
}

#[test]
fn matmul_values_and_errors() {
    // [[1,2],[3,4]] (column-major 1,3,2,4) times [5,6] = [17, 39]
    let a = Tensor::from_vec(&[2, 2], 1, vec![1.0, 3.0, 2.0, 4.0]).unwrap();
    a.set_sample_dependent(false);
    let x = Tensor::from_vec(&[2], 2, vec![5.0, 6.0, 1.0, 0.0]).unwrap();
    let y = matmul(&a, &x).unwrap();
    assert_eq!((y.shape(), y.batch()), (&[2usize][..], 2));
    assert_eq!(y.to_vec(), [17.0, 39.0, 1.0, 3.0]);
    let e = matmul(&a, &Tensor::zeros(&[3], 1).unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Shape);
    assert!(
        e.message().contains("matmul")
            && e.message().contains("[2, 2]")
            && e.message().contains("[3]")
    );
    assert!(matmul(&x, &x).is_err()); // two vectors
    assert!(matmul(&Tensor::zeros(&[2, 2, 2], 1).unwrap(), &x).is_err()); // rank 3
}

#[test]
fn vector_products_and_transpose() {
    let a = input(&[3], 2, -1.0, 1.0, 29);
    let b = input(&[3], 2, -1.0, 1.0, 30);
    check(
        "dot",
        vec![a.clone(), b.clone()],
        |v| dot_product(&v[0], &v[1]),
        TOL,
    );
    check(
        "dot shared",
        vec![a.clone(), shared(input(&[3], 1, -1.0, 1.0, 31))],
        |v| dot_product(&v[0], &v[1]),
        TOL,
    );
    let c = input(&[2], 2, -1.0, 1.0, 32);
    check(
        "outer",
        vec![a.clone(), c.clone()],
        |v| outer_product(&v[0], &v[1]),
        TOL,
    );
    check(
        "transpose",
        vec![input(&[2, 3], 2, -1.0, 1.0, 33)],
        |v| transpose(&v[0]),
        TOL,
    );
    let t = transpose(&Tensor::from_vec(&[2, 3], 1, (1..=6).map(|v| v as R).collect()).unwrap())
        .unwrap();
    assert_eq!(
        (t.shape(), t.to_vec()),
        (&[3usize, 2][..], vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0])
    );
    let o = outer_product(
        &Tensor::from_vec(&[2], 1, vec![1.0, 2.0]).unwrap(),
        &Tensor::from_vec(&[3], 1, vec![1.0, 10.0, 100.0]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (o.shape(), o.to_vec()),
        (&[2usize, 3][..], vec![1.0, 2.0, 10.0, 20.0, 100.0, 200.0])
    );
    assert!(dot_product(&a_tensor(), &Tensor::zeros(&[4], 1).unwrap()).is_err());
    assert!(transpose(&Tensor::<R>::zeros(&[4], 1).unwrap()).is_err());
}

fn a_tensor() -> Tensor<R> {
    Tensor::zeros(&[3], 1).unwrap()
}

#[test]
fn mlp_layer_composite() {
    // tanh(W.x + b) then a squared loss: the W4 shape in miniature
    let w = shared(input(&[3, 4], 1, -0.5, 0.5, 34));
    let bias = shared(input(&[3], 1, -0.5, 0.5, 35));
    let x = input(&[4], 5, -1.0, 1.0, 36);
    check(
        "mean((tanh(W.x+b) - 0.2)**2)",
        vec![w, bias, x],
        |v| {
            let h = unary(UnaryOp::Tanh, &add(&matmul(&v[0], &v[2])?, &v[1])?)?;
            mean_all(&pow_scalar(&sub_scalar(&h, 0.2)?, 2.0)?)
        },
        TOL,
    );
}
