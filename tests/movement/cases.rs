// The test cases of movement.rs and movement_f64.rs, for arrays of element type `R` with
// tolerance `TOL` (included by both).
use common::{check, input, shared};
use diffstruc::*;


/// `op(x)` squared element-wise: a nonlinear function through the operation.
fn sq(t: Result<Tensor<R>>) -> Result<Tensor<R>> {
    let t = t?;
    mul(&t, &t)
}

fn t(shape: &[usize], batch: usize, data: &[R]) -> Tensor<R> {
    let x = Tensor::from_vec(shape, batch, data.to_vec()).unwrap();
    x.set_requires_grad(true);
    x
}

/// 1..=n as R.
fn iota(n: usize) -> Vec<R> {
    (1..=n).map(|v| v as R).collect()
}

fn shape_of(x: &Tensor<R>) -> (Vec<usize>, usize) {
    (x.shape().to_vec(), x.batch())
}

#[test]
fn spread_and_unspread_values() {
    let a = t(&[3], 2, &iota(6));
    let s = spread(&a, 1, 2, 4).unwrap();
    assert_eq!(shape_of(&s), (vec![4], 2));
    assert_eq!(s.to_vec(), [2.0, 2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0]);
    let s = spread(&a, 2, 2, 3).unwrap();
    assert_eq!(shape_of(&s), (vec![3], 3));
    assert_eq!(s.to_vec(), [4.0, 5.0, 6.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0]);
    assert_eq!(s.operation(), "spread");

    let u = unspread(&a, 2, 1, 3).unwrap();
    assert_eq!(shape_of(&u), (vec![3], 2));
    assert_eq!(u.to_vec(), [0.0, 6.0, 0.0, 0.0, 15.0, 0.0]);
    let u = unspread(&a, 1, 2, 2).unwrap();
    assert_eq!(shape_of(&u), (vec![3], 2));
    assert_eq!(u.to_vec(), [5.0, 7.0, 9.0, 0.0, 0.0, 0.0]);

    let p = sum_pad(&a, 1, 3, 3).unwrap();
    assert_eq!(p.to_vec(), [0.0, 0.0, 6.0, 0.0, 0.0, 15.0]);
    assert_eq!(p.operation(), "sum_and_pad_array");
}

#[test]
fn spread_and_unspread_gradients() {
    let a = input(&[3], 2, -1.0, 1.0, 1);
    for dim in [1, 2] {
        check(
            &format!("spread dim {dim}"),
            vec![a.clone()],
            |x| sq(spread(&x[0], dim, 2, 3)),
            TOL,
        );
        check(
            &format!("unspread dim {dim}"),
            vec![a.clone()],
            |x| sq(unspread(&x[0], 2, dim, 3)),
            TOL,
        );
        // spec §5.2 #9: the padded sum's reverse rule reads the right element
        check(
            &format!("sum pad dim {dim}"),
            vec![a.clone()],
            |x| sq(sum_pad(&x[0], dim, 2, 4)),
            TOL,
        );
    }
    // a shared source spread over a batch
    check(
        "spread shared",
        vec![shared(input(&[3], 1, -1.0, 1.0, 2))],
        |x| sq(spread(&x[0], 2, 1, 4)),
        TOL,
    );
}

#[test]
fn concat_values_and_gradients() {
    // [2,2] and [2,1] per sample, batch 2: join along the last dimension
    let a = t(&[2, 2], 2, &iota(8));
    let b = t(&[2, 1], 2, &[10.0, 11.0, 12.0, 13.0]);
    let c = concat(&a, &b, 1).unwrap();
    assert_eq!(shape_of(&c), (vec![2, 3], 2));
    assert_eq!(
        c.to_vec(),
        [1.0, 2.0, 3.0, 4.0, 10.0, 11.0, 5.0, 6.0, 7.0, 8.0, 12.0, 13.0]
    );
    let c = concat(&b, &b, 2).unwrap();
    assert_eq!(shape_of(&c), (vec![2, 1], 4));
    assert_eq!(c.to_vec(), [10.0, 11.0, 12.0, 13.0, 10.0, 11.0, 12.0, 13.0]);

    let a = input(&[2, 2], 2, -1.0, 1.0, 3);
    let b = input(&[2, 1], 2, -1.0, 1.0, 4);
    check(
        "concat dim 1",
        vec![a.clone(), b.clone()],
        |x| sq(concat(&x[0], &x[1], 1)),
        TOL,
    );
    let b3 = input(&[2, 2], 3, -1.0, 1.0, 5);
    check(
        "concat dim 2",
        vec![a.clone(), b3],
        |x| sq(concat(&x[0], &x[1], 2)),
        TOL,
    );
    check(
        "concat shared second operand",
        vec![a.clone(), shared(input(&[2, 1], 1, -1.0, 1.0, 6))],
        |x| sq(concat(&x[0], &x[1], 1)),
        TOL,
    );
    check(
        "concat of an array with itself",
        vec![a],
        |x| sq(concat(&x[0], &x[0], 2)),
        TOL,
    );
}

#[test]
fn slices_and_trims() {
    let a = t(&[4], 2, &iota(8));
    let v = |k, b, dim| cut(k, &a, b, dim).unwrap().to_vec();
    assert_eq!(v(Cut::SliceLeft, 2, 1), [1.0, 2.0, 5.0, 6.0]);
    assert_eq!(v(Cut::SliceRight, 1, 1), [4.0, 8.0]);
    assert_eq!(v(Cut::LTrim, 1, 1), [2.0, 3.0, 4.0, 6.0, 7.0, 8.0]);
    assert_eq!(v(Cut::RTrim, 3, 1), [1.0, 5.0]);
    assert_eq!(v(Cut::SliceRight, 1, 2), [5.0, 6.0, 7.0, 8.0]);
    assert_eq!(v(Cut::LTrim, 0, 2), iota(8));
    assert_eq!(
        cut(Cut::LTrim, &a, 1, 1).unwrap().operation(),
        "slice_right"
    );
    assert_eq!(cut(Cut::RTrim, &a, 1, 1).unwrap().operation(), "slice_left");
    let x = input(&[4], 3, -1.0, 1.0, 7);
    for k in [Cut::SliceLeft, Cut::SliceRight, Cut::LTrim, Cut::RTrim] {
        for dim in [1, 2] {
            check(
                &format!("{k:?} dim {dim}"),
                vec![x.clone()],
                |y| sq(cut(k, &y[0], 2, dim)),
                TOL,
            );
        }
    }
}

#[test]
fn index_and_reverse_index() {
    let a = t(&[2], 3, &iota(6));
    let c = index(&a, &[3, 1, 3]).unwrap();
    assert_eq!(shape_of(&c), (vec![2], 3));
    assert_eq!(c.to_vec(), [5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    let c = reverse_index(&a, &[2, 1], true, 3).unwrap();
    assert_eq!(c.to_vec(), [3.0, 4.0, 1.0, 2.0, 0.0, 0.0]);
    // scatter: samples 1, 2, 3 go to 4, 1, 4; the last write to 4 wins
    let c = reverse_index(&a, &[4, 1, 4], false, 4).unwrap();
    assert_eq!(c.to_vec(), [3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 5.0, 6.0]);
    assert_eq!(c.operation(), "index");

    let x = input(&[2], 3, -1.0, 1.0, 8);
    check(
        ".index.",
        vec![x.clone()],
        |y| sq(index(&y[0], &[3, 1, 3, 2])),
        TOL,
    );
    check(
        "reverse_index from",
        vec![x.clone()],
        |y| sq(reverse_index(&y[0], &[2, 2], true, 3)),
        TOL,
    );
    check(
        "reverse_index to",
        vec![x],
        |y| sq(reverse_index(&y[0], &[4, 1, 4], false, 4)),
        TOL,
    );
}

#[test]
fn pack_and_unpack() {
    let a = t(&[3], 2, &iota(6));
    let p = pack_mask(&a, 1, Some(&[true, false, true])).unwrap();
    assert_eq!(shape_of(&p), (vec![2], 2));
    assert_eq!(p.to_vec(), [1.0, 3.0, 4.0, 6.0]);
    let p = pack_mask(&a, 2, Some(&[false, true])).unwrap();
    assert_eq!(shape_of(&p), (vec![3], 1));
    assert_eq!(p.to_vec(), [4.0, 5.0, 6.0]);
    assert_eq!(pack_mask(&a, 1, None).unwrap().to_vec(), iota(6));
    let p = pack_indices(&a, &[3, 3, 1], 1).unwrap();
    assert_eq!(p.to_vec(), [3.0, 3.0, 1.0, 6.0, 6.0, 4.0]);
    assert_eq!(pack_indices(&a, &[2], 2).unwrap().to_vec(), [4.0, 5.0, 6.0]);

    let b = t(&[2], 2, &[1.0, 2.0, 3.0, 4.0]);
    let u = unpack_mask(&b, &[4, 2], 1, Some(&[4, 2])).unwrap();
    assert_eq!(shape_of(&u), (vec![4], 2));
    assert_eq!(u.to_vec(), [0.0, 2.0, 0.0, 1.0, 0.0, 4.0, 0.0, 3.0]);
    let u = unpack_mask(&b, &[3, 2], 1, None).unwrap();
    assert_eq!(u.to_vec(), [1.0, 2.0, 0.0, 3.0, 4.0, 0.0]);
    let u = unpack_mask(&b, &[2, 3], 2, Some(&[3, 1])).unwrap();
    assert_eq!(u.to_vec(), [3.0, 4.0, 0.0, 0.0, 1.0, 2.0]);
    let u = unpack_indices(&b, &[3, 1], 1, 3).unwrap();
    assert_eq!(u.to_vec(), [2.0, 0.0, 1.0, 4.0, 0.0, 3.0]);
    let u = unpack_indices(&b, &[2, 3], 2, 3).unwrap();
    assert_eq!(shape_of(&u), (vec![2], 3));
    assert_eq!(u.to_vec(), [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]);

    let x = input(&[3], 4, -1.0, 1.0, 9);
    check(
        "pack mask dim 1",
        vec![x.clone()],
        |y| sq(pack_mask(&y[0], 1, Some(&[true, false, true]))),
        TOL,
    );
    check(
        "pack mask dim 2",
        vec![x.clone()],
        |y| sq(pack_mask(&y[0], 2, Some(&[true, false, true, true]))),
        TOL,
    );
    // spec §5.2 #10: without a mask the gradient is not zero
    check(
        "pack no mask",
        vec![x.clone()],
        |y| sq(pack_mask(&y[0], 1, None)),
        TOL,
    );
    check(
        "pack indices dim 1",
        vec![x.clone()],
        |y| sq(pack_indices(&y[0], &[3, 1, 3], 1)),
        TOL,
    );
    check(
        "pack indices dim 2",
        vec![x.clone()],
        |y| sq(pack_indices(&y[0], &[4, 2], 2)),
        TOL,
    );
    check(
        "unpack mask dim 1",
        vec![x.clone()],
        |y| sq(unpack_mask(&y[0], &[5, 4], 1, Some(&[5, 1, 2]))),
        TOL,
    );
    check(
        "unpack mask dim 1 copy",
        vec![x.clone()],
        |y| sq(unpack_mask(&y[0], &[4, 4], 1, None)),
        TOL,
    );
    check(
        "unpack mask dim 2",
        vec![x.clone()],
        |y| sq(unpack_mask(&y[0], &[3, 6], 2, Some(&[6, 1, 3, 2]))),
        TOL,
    );
    check(
        "unpack indices dim 1",
        vec![x.clone()],
        |y| sq(unpack_indices(&y[0], &[2, 4, 1], 1, 4)),
        TOL,
    );
    check(
        "unpack indices dim 2",
        vec![x],
        |y| sq(unpack_indices(&y[0], &[5, 1, 2, 3], 2, 5)),
        TOL,
    );
}

#[test]
fn reshape_keeps_values_and_tangent_shape() {
    let a = t(&[6], 2, &iota(12));
    let r = reshape(&a, &[2, 3]).unwrap();
    assert_eq!(shape_of(&r), (vec![2, 3], 2));
    assert_eq!(r.to_vec(), iota(12));
    // spec §5.2 #13: the tangent has the new shape
    let d = grad_forward(&r, &a).unwrap();
    assert_eq!(shape_of(&d), (vec![2, 3], 2));
    let x = input(&[6], 2, -1.0, 1.0, 10);
    check(
        "reshape",
        vec![x],
        |y| {
            let r = reshape(&y[0], &[3, 2])?;
            let w = Tensor::from_vec(&[2], 1, vec![0.5, -2.0])?;
            w.set_sample_dependent(false);
            matmul(&sq(Ok(r))?, &w)
        },
        TOL,
    );
}

#[test]
fn merge_forms() {
    let a = t(&[3], 1, &[1.0, 2.0, 3.0]);
    let b = t(&[3], 1, &[10.0, 20.0, 30.0]);
    let m = [true, false, true];
    assert_eq!(merge(&a, &b, &m).unwrap().to_vec(), [1.0, 20.0, 3.0]);
    let c = merge_scalar(&a, -1.0, &m).unwrap();
    assert_eq!(
        (c.to_vec(), c.operation()),
        (vec![1.0, -1.0, 3.0], "merge_scalar".into())
    );
    assert_eq!(
        scalar_merge(-1.0, &a, &m).unwrap().to_vec(),
        [-1.0, 2.0, -1.0]
    );
    let c = merge_real2d(&a, &[7.0, 8.0, 9.0], 3, 1, &m).unwrap();
    assert_eq!(c.to_vec(), [1.0, 8.0, 3.0]);

    let x = input(&[3], 2, -1.0, 1.0, 11);
    let y = input(&[3], 2, -1.0, 1.0, 12);
    let m = [true, false, false, true, true, false];
    check(
        "merge arrays",
        vec![x.clone(), y],
        |v| sq(merge(&v[0], &v[1], &m)),
        TOL,
    );
    check(
        "merge shared fsource",
        vec![x.clone(), shared(input(&[3], 1, -1.0, 1.0, 13))],
        |v| sq(merge(&v[0], &v[1], &m)),
        TOL,
    );
    check(
        "merge scalar",
        vec![x.clone()],
        |v| sq(merge_scalar(&v[0], 0.5, &m)),
        TOL,
    );
    check(
        "scalar merge",
        vec![x.clone()],
        |v| sq(scalar_merge(0.5, &v[0], &m)),
        TOL,
    );
    check(
        "merge real2d",
        vec![x],
        |v| {
            sq(merge_real2d(
                &v[0],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                3,
                2,
                &m,
            ))
        },
        TOL,
    );
}

#[test]
fn argument_errors_are_clear() {
    let a = t(&[3], 2, &iota(6));
    let err = |r: Result<Tensor<R>>, kind: ErrorKind, words: &[&str]| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), kind, "{}", e.message());
        for w in words {
            assert!(e.message().contains(w), "{:?} lacks {w:?}", e.message());
        }
    };
    use ErrorKind::{Argument, Shape};
    err(spread(&a, 3, 1, 2), Argument, &["spread", "dim", "3"]);
    err(spread(&a, 1, 4, 2), Argument, &["spread", "4", "1..3"]);
    err(spread(&a, 2, 3, 2), Argument, &["spread", "3", "1..2"]);
    err(spread(&a, 1, 1, 0), Argument, &["ncopies"]);
    err(unspread(&a, 0, 1, 2), Argument, &["unspread", "0"]);
    err(unspread(&a, 3, 1, 2), Argument, &["unspread", "3", "1..2"]);
    err(
        sum_pad(&a, 0, 1, 2),
        Argument,
        &["sum_and_pad_array", "dim"],
    );
    err(
        concat(&a, &t(&[2], 2, &iota(4)), 2),
        Shape,
        &["concat", "[3]", "[2]"],
    );
    err(
        concat(&a, &t(&[3, 1], 2, &iota(6)), 1),
        Shape,
        &["concat", "number of dimensions"],
    );
    err(concat(&a, &t(&[3], 3, &iota(9)), 1), Shape, &["batch"]);
    err(
        cut(Cut::SliceLeft, &a, 4, 1),
        Argument,
        &["slice_left", "4 of 3"],
    );
    err(cut(Cut::SliceRight, &a, 0, 2), Argument, &["slice_right"]);
    err(cut(Cut::LTrim, &a, 3, 1), Argument, &["ltrim"]);
    err(cut(Cut::RTrim, &a, 1, 5), Argument, &["rtrim", "dim"]);
    err(index(&a, &[1, 3]), Argument, &["index", "3", "1..2"]);
    err(index(&a, &[]), Argument, &["index"]);
    err(
        reverse_index(&a, &[1, 2, 1], true, 2),
        Argument,
        &["reverse_index"],
    );
    err(reverse_index(&a, &[5], false, 4), Argument, &["5", "1..4"]);
    err(
        pack_mask(&a, 1, Some(&[true])),
        Shape,
        &["pack_mask", "mask"],
    );
    err(
        pack_mask(&a, 1, Some(&[false; 3])),
        Argument,
        &["selects nothing"],
    );
    err(pack_indices(&a, &[0], 1), Argument, &["pack_indices", "0"]);
    err(unpack_mask(&a, &[2, 2], 1, None), Shape, &["unpack_mask"]);
    err(unpack_mask(&a, &[], 1, None), Argument, &["array_shape"]);
    err(
        unpack_mask(&a, &[4, 2], 1, Some(&[5])),
        Argument,
        &["5", "1..4"],
    );
    err(unpack_mask(&a, &[4, 3], 1, None), Shape, &["batch"]);
    err(
        unpack_indices(&a, &[1, 2, 3, 4], 1, 4),
        Argument,
        &["unpack_indices"],
    );
    err(reshape(&a, &[2, 2]), Shape, &["reshape", "[2, 2]", "3"]);
    err(reshape(&a, &[0]), Argument, &["positive"]);
    err(
        merge(&a, &t(&[2], 2, &iota(4)), &[true; 6]),
        Shape,
        &["merge"],
    );
    err(merge_scalar(&a, 1.0, &[true; 5]), Shape, &["mask", "5"]);
    err(
        merge_real2d(&a, &[1.0; 5], 3, 2, &[true; 6]),
        Shape,
        &["fsource"],
    );
}
