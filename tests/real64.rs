//! real64 arrays compute in f64 throughout: values, every kind of kernel (element-wise maths,
//! broadcasting, reductions, products, movement) and gradients carry f64 precision, which a
//! detour through f32 would lose.

use diffstruc::*;

fn t(shape: &[usize], batch: usize, v: Vec<f64>) -> Tensor<f64> {
    Tensor::from_vec(shape, batch, v).unwrap()
}

#[test]
fn values_keep_f64_precision() {
    let third = 1.0f64 / 3.0;
    let x = t(&[3], 1, vec![third, 0.1, 1e-12]);
    x.set_requires_grad(true);
    // 1 + 1e-12 is 1 in f32
    let y = add_scalar(&x, 1.0).unwrap().to_vec();
    assert_eq!(y, vec![1.0 + third, 1.1, 1.0 + 1e-12]);
    let e = unary(UnaryOp::Exp, &x).unwrap().to_vec();
    assert!((e[0] - third.exp()).abs() <= 2.0 * f64::EPSILON * e[0]);
    let s = unary(UnaryOp::Sigmoid, &x).unwrap().to_vec();
    assert!((s[2] - (0.5 + 0.25e-12)).abs() < 1e-20, "{}", s[2]);
    let m = mean_all(&x).unwrap().to_vec();
    assert_eq!(m[0], (third + 0.1 + 1e-12) / 3.0);
    // a product of 3 values summed: dot with itself
    let d = dot_product(&x, &x).unwrap().to_vec();
    assert!((d[0] - (third * third + 0.01 + 1e-24)).abs() < 1e-16);
    // reverse mode: d/dx sum(x * x * 0.5) = x, exactly
    let f = sum_all(&mul_scalar(&mul(&x, &x).unwrap(), 0.5).unwrap()).unwrap();
    grad_reverse(&f, None).unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![third, 0.1, 1e-12]);
}

#[test]
fn products_and_movement_in_f64() {
    let a = t(&[2, 2], 1, vec![1.0, 1e-10, 0.0, 1.0]); // column-major [[1, 0], [1e-10, 1]]
    let b = t(&[2], 2, vec![1.0, 1.0, 2.0, 3.0]);
    let c = matmul(&a, &b).unwrap().to_vec();
    assert_eq!(c, vec![1.0, 1.0 + 1e-10, 2.0, 3.0 + 2e-10]);
    let r = reshape(&a, &[4]).unwrap();
    assert_eq!(r.to_vec(), vec![1.0, 1e-10, 0.0, 1.0]);
    let s = sum(&b, 2).unwrap().to_vec();
    assert_eq!(s, vec![3.0, 4.0]);
}

#[test]
fn second_derivative_in_f64() {
    // f = x^3: f'' = 6x, exact in f64 for x = 1/3 up to rounding
    let x = t(&[1], 1, vec![1.0 / 3.0]);
    x.set_requires_grad(true);
    let f = pow_scalar(&x, 3.0).unwrap();
    let d1 = grad_forward(&f, &x).unwrap();
    let d2 = grad_forward(&d1, &x).unwrap().to_vec();
    assert!((d2[0] - 2.0).abs() < 1e-14, "{}", d2[0]);
}
