//! Custom operations written in Rust (the `Operation` trait): values, both modes and second
//! order against finite differences, and the attach pattern (fill a result, then link it).

mod common;

type R = f32;
const H: R = 4e-3;
use std::sync::Arc;

use common::{check, input};
use diffstruc::*;

/// softplus(x) = log(1 + exp(x)); derivative sigmoid(x), built from differentiable operations.
struct Softplus;

impl Operation for Softplus {
    fn name(&self) -> &str {
        "softplus"
    }
    fn jvp(&self, _: &Tensor, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Option<Tensor>> {
        let Some(t) = &t[0] else { return Ok(None) };
        Ok(Some(mul(t, &unary(UnaryOp::Sigmoid, &x[0])?)?))
    }
    fn vjp(&self, _: &Tensor, x: &[Tensor], g: &Grad, _: &[bool]) -> Result<Vec<Option<Grad>>> {
        let data = x[0]
            .to_vec()
            .iter()
            .zip(g.as_slice())
            .map(|(&v, &g)| g / (1.0 + (-v).exp()))
            .collect();
        Ok(vec![Some(Grad::new(data, x[0].dims()))])
    }
}

fn softplus(x: &Tensor) -> Result<Tensor> {
    let data = x.to_vec().iter().map(|&v| (1.0 + v.exp()).ln()).collect();
    Tensor::from_custom(
        x.shape(),
        x.batch(),
        data,
        Arc::new(Softplus),
        std::slice::from_ref(x),
    )
}

#[test]
fn custom_operation_in_both_modes_and_second_order() {
    let x = input(&[3], 2, -2.0, 2.0, 1);
    check("softplus", vec![x.clone()], |v| softplus(&v[0]), 2e-3);
    // inside a larger expression, twice on the same input
    check(
        "softplus composite",
        vec![x],
        |v| mul(&softplus(&v[0])?, &softplus(&mul_scalar(&v[0], 2.0)?)?),
        2e-3,
    );
}

#[test]
fn attach_turns_a_filled_leaf_into_a_result() {
    let x = Tensor::from_vec(&[2], 1, vec![0.0, 1.0]).unwrap();
    x.set_requires_grad(true);
    let y = Tensor::zeros(&[2], 1).unwrap();
    y.set_values(&[2f32.ln(), (1.0 + 1f32.exp()).ln()]).unwrap();
    y.attach_operation(Arc::new(Softplus), std::slice::from_ref(&x))
        .unwrap();
    assert!(y.requires_grad());
    assert_eq!(y.operation(), "softplus");
    grad_reverse(&y, None).unwrap();
    let g = x.grad().unwrap().to_vec();
    assert!((g[0] - 0.5).abs() < 1e-6 && (g[1] - 1.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);

    let e = y
        .attach_operation(Arc::new(Softplus), std::slice::from_ref(&x))
        .unwrap_err();
    assert!(
        e.message().contains("already the result of 'softplus'"),
        "{}",
        e.message()
    );
    let z = Tensor::zeros(&[2], 1).unwrap();
    let e = z
        .attach_operation(Arc::new(Softplus), std::slice::from_ref(&z))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Graph);
    let e = z.attach_operation(Arc::new(Softplus), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Argument);
    let e = Tensor::from_custom(&[3], 1, vec![0.0; 2], Arc::new(Softplus), &[x]).unwrap_err();
    assert!(e.message().contains("softplus") && e.message().contains("needs 3 values"));
}
