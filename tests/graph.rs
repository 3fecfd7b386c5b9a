//! Graph semantics: lifetimes, deep and shared graphs, higher orders, seeds and accumulation.
//!
//! Every test takes a lock: some check `live_nodes()`, a process-wide count, and the test harness
//! runs tests on several threads (a test creating nodes while another counts them made the
//! count fail on some schedules).

use std::sync::Mutex;

use diffstruc::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn var(shape: &[usize], batch: usize, v: Vec<f32>) -> Tensor {
    let t = Tensor::from_vec(shape, batch, v).unwrap();
    t.set_requires_grad(true);
    t
}

fn poly(x: &Tensor) -> Tensor {
    // x**3 + 2 x**2 + x
    &(&pow_scalar(x, 3.0).unwrap() + &(2.0 * &pow_scalar(x, 2.0).unwrap())) + x
}

#[test]
fn tutorial_derivatives_to_third_order_and_hessian() {
    let _g = serial();
    let x = var(&[3], 1, vec![1.0, 2.0, 3.0]);
    let f = poly(&x);
    assert_eq!(f.to_vec(), [4.0, 18.0, 48.0]);
    let df = grad_forward(&f, &x).unwrap();
    assert_eq!(df.to_vec(), [8.0, 21.0, 40.0]);
    let d2 = grad_forward(&df, &x).unwrap();
    assert_eq!(d2.to_vec(), [10.0, 16.0, 22.0]);
    let d3 = grad_forward(&d2, &x).unwrap();
    assert_eq!(d3.to_vec(), [6.0; 3]);
    grad_reverse(&f, None).unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), [8.0, 21.0, 40.0]);
    x.zero_grad();
    grad_reverse(&df, None).unwrap(); // reverse over forward: H * ones (H diagonal here)
    assert_eq!(x.grad().unwrap().to_vec(), [10.0, 16.0, 22.0]);
    drop((f, df, d2, d3, x));
    assert_eq!(live_nodes(), 0);
}

#[test]
fn mixed_partials_and_full_hessian() {
    let _g = serial();
    // f = sum(x*x*y) with x, y vectors: d/dx = 2xy, d2/dxdy = 2x, d2/dx2 = 2y
    let x = var(&[2], 1, vec![1.5, -2.0]);
    let y = var(&[2], 1, vec![0.5, 3.0]);
    let f = sum_all(&(&(&x * &x) * &y)).unwrap();
    x.set_direction(&[1.0, 0.0]).unwrap();
    y.set_direction(&[0.0, 1.0]).unwrap();
    let fx = grad_forward(&f, &x).unwrap(); // 2 x0 y0
    assert_eq!(fx.to_vec(), [1.5]);
    let fxy1 = grad_forward(&fx, &y).unwrap(); // d/dy1 of 2 x0 y0 = 0
    assert_eq!(fxy1.to_vec(), [0.0]);
    y.set_direction(&[1.0, 0.0]).unwrap();
    let fxy = grad_forward(&fx, &y).unwrap(); // d/dy0 = 2 x0
    assert_eq!(fxy.to_vec(), [3.0]);
    // Hessian of f in x by reverse over forward, one row per direction e_k
    let mut hessian = Vec::new();
    for k in 0..2 {
        let mut e = [0.0; 2];
        e[k] = 1.0;
        x.set_direction(&e).unwrap();
        let fx = grad_forward(&f, &x).unwrap();
        x.zero_grad();
        grad_reverse(&fx, None).unwrap();
        hessian.push(x.grad().unwrap().to_vec());
    }
    assert_eq!(hessian, [vec![1.0, 0.0], vec![0.0, 6.0]]); // diag(2 y)
    drop((f, fx, fxy1, fxy, x, y));
    assert_eq!(live_nodes(), 0);
}

#[test]
fn freeing_in_any_order_and_nullify_are_safe() {
    let _g = serial();
    let x = var(&[4], 2, (0..8).map(|v| v as f32 * 0.25).collect());
    let f = unary(UnaryOp::Exp, &(&x * 2.0)).unwrap();
    let df = grad_forward(&f, &x).unwrap();
    let want_df: Vec<f32> = f.to_vec().iter().map(|v| 2.0 * v).collect();
    // inputs before results, results before derivatives
    drop(x);
    drop(f);
    assert_eq!(df.to_vec(), want_df);
    df.nullify_graph();
    df.nullify_graph();
    assert_eq!(df.to_vec(), want_df);
    drop(df);
    assert_eq!(live_nodes(), 0);

    // nullify releases intermediates but the leaf's gradient stays readable
    let x = var(&[2], 1, vec![1.0, 2.0]);
    let f = sum_all(&(&(&x * &x) + 1.0)).unwrap();
    grad_reverse(&f, None).unwrap();
    let before = live_nodes();
    f.nullify_graph();
    assert!(live_nodes() < before);
    assert!(f.is_leaf());
    assert_eq!(x.grad().unwrap().to_vec(), [2.0, 4.0]);
    drop((f, x));
    assert_eq!(live_nodes(), 0);
}

#[test]
fn deep_chain_both_modes_without_recursion() {
    let _g = serial();
    // Runs on a test thread (2 MiB stack): building, differentiating and freeing a chain of
    // 100,000 nodes must not recurse.
    let x = var(&[1], 1, vec![0.5]);
    let mut y = x.clone();
    for _ in 0..100_000 {
        y = &y * 1.0;
    }
    y = &y + 0.0;
    grad_reverse(&y, None).unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), [1.0]);
    let dy = grad_forward(&y, &x).unwrap();
    assert_eq!(dy.to_vec(), [1.0]);
    drop((y, dy, x));
    assert_eq!(live_nodes(), 0);
}

#[test]
fn shared_dag_is_linear_in_depth() {
    let _g = serial();
    // W6: y(k+1) = y(k)*y(k)*0.5 + y(k). Each level uses y(k) three times: walking paths would
    // cost 3^D. d y(k+1)/d y(k) = y(k) + 1.
    for depth in [10usize, 20, 200] {
        let x = var(&[3], 1, vec![1e-3; 3]);
        let mut y = x.clone();
        let mut dydx = 1.0f64;
        let mut yv = 1e-3f64;
        for _ in 0..depth {
            y = &(&(&y * &y) * 0.5) + &y;
            dydx *= yv + 1.0;
            yv = yv * yv * 0.5 + yv;
        }
        let s = sum_all(&y).unwrap();
        grad_reverse(&s, None).unwrap();
        let g = x.grad().unwrap().to_vec();
        assert!(
            (g[0] as f64 - dydx).abs() < 1e-3 * dydx,
            "{depth}: {} vs {dydx}",
            g[0]
        );
        let d = grad_forward(&s, &x).unwrap().to_vec();
        assert!((d[0] as f64 - 3.0 * dydx).abs() < 3e-3 * dydx);
    }
    assert_eq!(live_nodes(), 0);
}

#[test]
fn reverse_accumulates_and_seeds() {
    let _g = serial();
    let x = var(&[3], 1, vec![1.0, 2.0, 3.0]);
    let f = &x * &x;
    grad_reverse(&f, None).unwrap();
    grad_reverse(&f, None).unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), [4.0, 8.0, 12.0]);
    x.zero_grad();
    grad_reverse(&f, Some(&[1.0, 0.0, -1.0])).unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), [2.0, 0.0, -6.0]);
    let e = grad_reverse(&f, Some(&[1.0])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Shape);
    // g = f + f: the shared node receives both contributions before passing them on
    x.zero_grad();
    grad_reverse(&(&f + &f), None).unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), [4.0, 8.0, 12.0]);
    // intermediates keep no gradient unless asked
    assert!(f.grad().is_none());
    f.set_retain_grad(true);
    grad_reverse(&(&f * 3.0), None).unwrap();
    assert_eq!(f.grad().unwrap().to_vec(), [3.0; 3]);
    drop((f, x));
    assert_eq!(live_nodes(), 0);
}

#[test]
fn forward_mode_edge_cases() {
    let _g = serial();
    let x = var(&[2], 2, vec![1.0, 2.0, 3.0, 4.0]);
    let y = var(&[2], 2, vec![5.0, 6.0, 7.0, 8.0]);
    // f independent of the variable: zeros of f's extents
    let f = &y * 2.0;
    let d = grad_forward(&f, &x).unwrap();
    assert_eq!((d.dims(), d.to_vec()), (f.dims(), vec![0.0; 4]));
    // variable without requires_grad: an error, not an undefined result
    let c = Tensor::from_vec(&[2], 2, vec![0.0; 4]).unwrap();
    assert_eq!(
        grad_forward(&f, &c).unwrap_err().kind(),
        ErrorKind::NoGradient
    );
    // an intermediate node may be the variable
    let u = &x * &x;
    let g = unary(UnaryOp::Exp, &u).unwrap();
    assert_eq!(grad_forward(&g, &u).unwrap().to_vec(), g.to_vec());
    // a copy of the handle is the same variable (diffstruc: a value copy is not)
    let x2 = x.clone();
    assert_eq!(
        grad_forward(&u, &x2).unwrap().to_vec(),
        [2.0, 4.0, 6.0, 8.0]
    );
    // per-sample direction (E * S values)
    x.set_direction(&[1.0, 0.0, 0.0, 1.0]).unwrap();
    assert_eq!(grad_forward(&u, &x).unwrap().to_vec(), [2.0, 0.0, 0.0, 8.0]);
    assert_eq!(
        x.set_direction(&[1.0; 3]).unwrap_err().kind(),
        ErrorKind::Shape
    );
    // spec 5.2 #15: a variable that already has a gradient does not corrupt reverse-over-forward
    x.clear_direction();
    grad_reverse(&u, None).unwrap();
    let du = grad_forward(&u, &x).unwrap(); // 2x
    x.zero_grad();
    grad_reverse(&du, None).unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), [2.0; 4]);
    drop((x, y, f, d, c, u, g, x2, du));
    assert_eq!(live_nodes(), 0);
}

#[test]
fn broadcast_gradients_sum_over_the_batch() {
    let _g = serial();
    // spec 5.2 #4 and #5: a weight shared by the batch
    let a = var(&[2], 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let w = var(&[2], 1, vec![10.0, 20.0]);
    w.set_sample_dependent(false);
    let f = &a * &w;
    assert_eq!((f.shape(), f.batch()), (&[2usize][..], 3));
    assert_eq!(f.to_vec(), [10.0, 40.0, 30.0, 80.0, 50.0, 120.0]);
    grad_reverse(&f, None).unwrap();
    assert_eq!(w.grad().unwrap().to_vec(), [9.0, 12.0]);
    assert_eq!(
        a.grad().unwrap().to_vec(),
        [10.0, 20.0, 10.0, 20.0, 10.0, 20.0]
    );
    let dw = grad_forward(&f, &w).unwrap();
    assert_eq!(dw.to_vec(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // incompatible extents name the operation and both shapes
    let b = var(&[3], 3, vec![0.0; 9]);
    let e = add(&a, &b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Shape);
    assert!(
        e.message().contains("add") && e.message().contains("[2]") && e.message().contains("[3]")
    );
    drop((a, w, f, dw, b));
    assert_eq!(live_nodes(), 0);
}

#[test]
fn wrapped_buffer_is_used_in_place() {
    let _g = serial();
    let mut buf = vec![1.0f32, 2.0, 3.0, 4.0];
    let x = unsafe { Tensor::from_raw(buf.as_mut_ptr(), &[2], 2) }.unwrap();
    assert!(x.is_borrowed());
    assert_eq!(x.data_ptr(), buf.as_mut_ptr());
    x.values_mut()[0] = 9.0;
    drop(x);
    assert_eq!(buf, [9.0, 2.0, 3.0, 4.0]);
    assert_eq!(live_nodes(), 0);
}

#[test]
fn upstream_numerical_defects_are_fixed() {
    let _g = serial();
    {
        // 5.2 #3: d(a/b)/db uses each sample's own values
        let a = var(&[1], 2, vec![1.0, 2.0]);
        let b = var(&[1], 2, vec![4.0, 8.0]);
        grad_reverse(&(&a / &b), None).unwrap();
        assert_eq!(b.grad().unwrap().to_vec(), [-1.0 / 16.0, -2.0 / 64.0]);
    }
    {
        // 5.2 #6: abs derivative is sign(x)
        let x = var(&[2], 1, vec![-2.0, 3.0]);
        grad_reverse(&unary(UnaryOp::Abs, &x).unwrap(), None).unwrap();
        assert_eq!(x.grad().unwrap().to_vec(), [-1.0, 1.0]);
    }
    {
        // 5.2 #7: gaussian reverse uses a - mu
        let x = var(&[1], 1, vec![1.0]);
        let g = gaussian(&x, 1.0, 2.0).unwrap();
        grad_reverse(&g, None).unwrap();
        assert_eq!(x.grad().unwrap().to_vec(), [0.0]);
    }
    {
        // 5.2 #8: s ** a differentiates the exponent
        let x = var(&[1], 1, vec![2.0]);
        let p = scalar_binary(BinaryOp::Pow, 3.0, &x).unwrap();
        let d = grad_forward(&p, &x).unwrap().to_vec()[0];
        assert!((d - 9.0 * 3f32.ln()).abs() < 1e-5);
    }
    assert_eq!(live_nodes(), 0);
}

#[test]
fn duplicate_graph_copies_nodes_once_and_keeps_fixed_ones() {
    let _g = serial();
    let x = Tensor::from_vec(&[2], 1, vec![1.0, 2.0]).unwrap();
    x.set_requires_grad(true);
    let w = Tensor::from_vec(&[2], 1, vec![3.0, 4.0]).unwrap();
    w.set_requires_grad(true);
    w.set_fixed(true);
    let s = mul(&x, &w).unwrap();
    let f = add(&s, &s).unwrap(); // shared node
    f.set_id(7);
    let c = duplicate_graph(&f).unwrap();
    assert_eq!(c.to_vec(), f.to_vec());
    assert!(!c.same(&f) && c.id() == 7);
    let ins = c.inputs();
    assert!(ins[0].same(&ins[1]), "sharing preserved");
    let leaves = ins[0].inputs();
    assert!(!leaves[0].same(&x), "leaves are copied");
    assert!(leaves[1].same(&w), "fixed nodes are not copied");
    // the copy differentiates on its own: d f / d x_copy = 2 w
    grad_reverse(&c, None).unwrap();
    assert_eq!(leaves[0].grad().unwrap().to_vec(), [6.0, 8.0]);
    assert!(x.grad().is_none_or(|g| g.to_vec() == [0.0, 0.0]));
    // changing the copy leaves the original alone
    leaves[0].set_values(&[0.0, 0.0]).unwrap();
    assert_eq!(f.to_vec(), [6.0, 16.0]);
}

#[test]
fn find_id_is_preorder_and_detach_makes_a_constant() {
    let _g = serial();
    let x = Tensor::from_vec(&[1], 1, vec![2.0]).unwrap();
    x.set_requires_grad(true);
    let y = Tensor::from_vec(&[1], 1, vec![3.0]).unwrap();
    y.set_requires_grad(true);
    let a = mul(&x, &y).unwrap();
    let f = add(&a, &y).unwrap();
    assert_eq!(f.id(), -1);
    assert!(find_id(&f, -1).unwrap().same(&f), "untagged root first");
    x.set_id(1);
    y.set_id(1);
    assert!(
        find_id(&f, 1).unwrap().same(&x),
        "left subtree before right"
    );
    assert!(find_id(&f, 5).is_none());

    a.detach();
    assert!(a.is_leaf() && !a.requires_grad() && a.operation() == "none");
    assert_eq!(a.to_vec(), [6.0]);
    grad_reverse(&f, None).unwrap();
    assert!(
        x.grad().is_none_or(|g| g.to_vec() == [0.0]),
        "no path through a detached node"
    );
    assert_eq!(y.grad().unwrap().to_vec(), [1.0]);
}

#[test]
fn w6_at_depth_100000_both_modes_linear_and_without_recursion() {
    let _g = serial();
    // W6 at its largest depth, on a 2 MiB test-thread stack (smaller than the default 8 MiB
    // main stack). Linear cost is guarded structurally: forward mode creates a bounded number
    // of nodes per level (a path-walking implementation would create 3^D), and the run itself
    // would not finish otherwise.
    const D: usize = 100_000;
    let x = var(&[2], 1, vec![1e-6; 2]);
    let mut y = x.clone();
    let (mut yv, mut dydx) = (1e-6f64, 1.0f64);
    for _ in 0..D {
        y = &(&(&y * &y) * 0.5) + &y;
        dydx *= yv + 1.0;
        yv = yv * yv * 0.5 + yv;
    }
    let s = sum_all(&y).unwrap();
    let before = live_nodes();
    grad_reverse(&s, None).unwrap();
    let g = x.grad().unwrap().to_vec();
    assert!(
        (g[0] as f64 - dydx).abs() < 1e-3 * dydx,
        "{} vs {dydx}",
        g[0]
    );
    let after_reverse = live_nodes();
    let d = grad_forward(&s, &x).unwrap();
    assert!((d.to_vec()[0] as f64 - 2.0 * dydx).abs() < 2e-3 * dydx);
    let created = live_nodes() - after_reverse;
    assert!(
        created <= 8 * D,
        "forward mode created {created} nodes for {D} levels"
    );
    assert!(
        after_reverse - before <= 2,
        "reverse mode keeps no per-node state"
    );
    drop((d, s, y, x));
    assert_eq!(live_nodes(), 0);
}

/// A do-nothing operation, to link nodes by hand.
struct Link;
impl Operation for Link {
    fn name(&self) -> &str {
        "link"
    }
    fn jvp(&self, _: &Tensor, _: &[Tensor], t: &[Option<Tensor>]) -> Result<Option<Tensor>> {
        Ok(t[0].clone())
    }
    fn vjp(&self, _: &Tensor, _: &[Tensor], g: &Grad, _: &[bool]) -> Result<Vec<Option<Grad>>> {
        Ok(vec![Some(g.clone())])
    }
}

#[test]
fn print_is_bounded_for_deep_and_cyclic_graphs() {
    let _g = serial();
    use diffstruc::core::print::graph_lines;
    // a deep chain with two inputs per node: the printed prefix grows with depth
    let x = var(&[1], 1, vec![1.0]);
    let mut y = x.clone();
    for _ in 0..20_000 {
        y = &y * &x;
    }
    let lines = graph_lines(&y, false);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(bytes < 64 << 20, "{bytes} bytes");
    assert!(lines
        .iter()
        .any(|l| l.ends_with("(deeper levels not shown)")));
    // a cycle cannot be made by hand: linking b back to a is refused, so nothing can leak
    let a = Tensor::zeros(&[1], 1).unwrap();
    let b = Tensor::zeros(&[1], 1).unwrap();
    b.set_requires_grad(true);
    a.attach_operation(std::sync::Arc::new(Link), std::slice::from_ref(&b))
        .unwrap();
    let e = b
        .attach_operation(std::sync::Arc::new(Link), std::slice::from_ref(&a))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Graph);
    assert!(e.message().contains("cycle"), "{}", e.message());
    assert!(!graph_lines(&a, false).is_empty());
    grad_reverse(&a, None).unwrap();
    drop((a, b, y, x));
    assert_eq!(live_nodes(), 0);
}

#[test]
fn duplicate_graph_snapshots_inputs_and_shares_fixed_parameters() {
    let _g = serial();
    // training through time: the input variable is overwritten after the copy is taken
    let w = var(&[1], 1, vec![1.0]);
    w.set_fixed(true);
    let x = Tensor::from_vec(&[1], 1, vec![1.0]).unwrap();
    let f = &w * &x;
    let g1 = duplicate_graph(&f).unwrap();
    x.set_values(&[2.0]).unwrap();
    grad_reverse(&g1, None).unwrap();
    assert_eq!(w.grad().unwrap().to_vec(), [1.0], "the copy kept x = 1");
    // the original used x = 1 and x was written since: differentiating it would mix x = 1 and
    // x = 2, so it is refused (issue 10, versions); computed again it sees x = 2
    let e = grad_reverse(&f, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Modified, "{e}");
    w.zero_grad();
    grad_reverse(&(&w * &x), None).unwrap();
    assert_eq!(
        w.grad().unwrap().to_vec(),
        [2.0],
        "computed again, it sees x = 2"
    );
}

#[test]
fn partial_gives_one_input_reverse_rule() {
    let _g = serial();
    let x = var(&[2], 1, vec![1.0, 2.0]);
    let y = var(&[2], 1, vec![3.0, 5.0]);
    let f = &x * &y;
    // d(x*y)/dx . u = u*y, d(x*y)/dy . u = u*x
    assert_eq!(partial(&f, 0, &[1.0, 2.0]).unwrap(), [3.0, 10.0]);
    assert_eq!(partial(&f, 1, &[1.0, 2.0]).unwrap(), [1.0, 4.0]);
    // a broadcast input gets its gradient summed back to its extents
    let s = Tensor::from_vec(&[1], 1, vec![4.0]).unwrap();
    s.set_requires_grad(true);
    let g = &x * &s;
    assert_eq!(partial(&g, 1, &[1.0, 1.0]).unwrap(), [3.0]);
    assert!(partial(&f, 2, &[1.0, 1.0]).is_err(), "no third input");
    assert!(
        partial(&f, 0, &[1.0]).is_err(),
        "upstream of the wrong length"
    );
    assert!(
        partial(&x, 0, &[1.0, 1.0]).is_err(),
        "a leaf has no operation"
    );
}

#[test]
fn graph_dot_draws_shared_nodes_once() {
    let _g = serial();
    let x = var(&[2], 1, vec![1.0, 2.0]);
    let y = Tensor::from_vec(&[2], 1, vec![3.0, 4.0]).unwrap();
    let f = &(&x * &x) + &y;
    let dot = graph_dot(&f);
    assert!(dot.starts_with("digraph diffstruc {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    let nodes: Vec<&str> = dot.lines().filter(|l| l.contains("[label=")).collect();
    assert_eq!(nodes.len(), 4, "add, multiply, x once, y: {dot}");
    assert!(
        nodes[0].contains("add\\n[2] x 1") && nodes[0].contains("bold"),
        "{dot}"
    );
    assert!(dot.contains("multiply\\n[2] x 1"), "{dot}");
    assert_eq!(
        dot.matches("shape=box, style=dotted").count(),
        1,
        "y: a constant"
    );
    assert_eq!(
        dot.matches("->").count(),
        4,
        "x twice into multiply, then two into add"
    );
}
