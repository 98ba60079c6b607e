//! GPU reductions and softmaxes against their CPU twins on awkward shapes (outputs poisoned).
mod common;

use common::*;
use vdd::cpu::reduce::{Reduce, Softmax};
use vdd::tensor::ops;
use vdd::{Device, Tensor};

const SHAPES: &[(usize, usize)] = &[(1, 1), (3, 17), (17, 3), (33, 127), (127, 33), (1, 1000), (257, 5)];

fn pair(g: &Device, v: &[f32], shape: &[usize]) -> (Tensor, Tensor) {
    (Tensor::from_slice(g, v, shape).unwrap(), Tensor::from_slice(&Device::Cpu, v, shape).unwrap())
}

/// The GPU backward of `op` from its forward (`xg`, `yg`) against the CPU's (`xc`, `yc`), for a
/// random output gradient.
fn assert_backward_matches(
    rng: &mut Rng,
    g: &Device,
    op: Reduce,
    (xg, yg): (&Tensor, &Tensor),
    (xc, yc): (&Tensor, &Tensor),
) {
    let rows = yc.numel();
    let dy = rng.vec(rows, -1.0, 1.0);
    let (dyg, dyc) = pair(g, &dy, &[rows]);
    let got = ops::reduce_bwd(xg, yg, &dyg, op).unwrap().to_vec().unwrap();
    let want = ops::reduce_bwd(xc, yc, &dyc, op).unwrap().to_vec().unwrap();
    assert_close(&format!("{op:?} backward {:?}", xc.shape()), &got, &want, 1e-6, 1e-5);
}

#[test]
fn row_reductions_match_cpu_on_awkward_shapes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(1);
    for op in Reduce::ALL {
        for &(rows, n) in SHAPES {
            let x = rng.vec(rows * n, -4.0, 4.0);
            let (xg, xc) = pair(&g.dev, &x, &[rows, n]);
            let (yg, yc) = (ops::reduce(&xg, op).unwrap(), ops::reduce(&xc, op).unwrap());
            assert_eq!(yg.shape(), &[rows]);
            let tol = 1e-6 * (n as f64).sqrt() * 4.0;
            assert_close(&format!("{op:?} {rows}x{n}"), &yg.to_vec().unwrap(), &yc.to_vec().unwrap(), tol, 1e-5);
            assert_backward_matches(&mut rng, &g.dev, op, (&xg, &yg), (&xc, &yc));
        }
    }
}

/// Rows longer than one invocation may loop over (llvmpipe ends an invocation's loops after
/// 65535 iterations in total, silently): the reductions take them in chunks, in several
/// passes, and so does the backward. The maximum sits twice in a late chunk and once more in
/// a later one, so the first maximum is found across chunks.
#[test]
fn row_reductions_match_cpu_on_rows_longer_than_a_loop_may_run() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(7);
    for &(rows, n) in &[(1, 70_001), (2, 4097), (3, 69_637), (1, 300_000)] {
        let mut x = rng.vec(rows * n, -4.0, 4.0);
        for r in 0..rows {
            for i in [n / 2, n / 2 + 1, n - 1] {
                x[r * n + i] = 5.0 + r as f32;
            }
        }
        let x64 = Tensor::from_f64(&Device::CpuF64, &x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), &[rows, n])
            .unwrap();
        let (xg, xc) = pair(&g.dev, &x, &[rows, n]);
        for op in Reduce::ALL {
            let (yg, yc) = (ops::reduce(&xg, op).unwrap(), ops::reduce(&xc, op).unwrap());
            // Against f64: a sequential f32 sum of 300k terms (the CPU twin's) is itself off by
            // ~1e-2; a truncated row would be off by hundreds (a mean by ~1e-3).
            let want = ops::reduce(&x64, op).unwrap().to_vec64().unwrap();
            let got: Vec<f64> = yg.to_vec().unwrap().into_iter().map(f64::from).collect();
            let atol = match op {
                Reduce::Sum => 2e-7 * n as f64,
                Reduce::Mean => 2e-7,
                _ => 1e-5,
            };
            assert_close64(&format!("{op:?} {rows}x{n}"), &got, &want, atol, 1e-6);
            assert_backward_matches(&mut rng, &g.dev, op, (&xg, &yg), (&xc, &yc));
        }
    }
}

/// The per-row kernels that loop over a row several times refuse rows beyond their limit
/// instead of returning a silently truncated result.
#[test]
fn over_long_softmax_and_layer_norm_rows_are_a_clear_error() {
    let Some(g) = gpu() else { return };
    let n = vdd::kernels::MAX_ROW + 4;
    let x = Tensor::from_slice(&g.dev, &vec![0.5; n], &[1, n]).unwrap();
    let err = ops::softmax(&x, Softmax::Softmax).unwrap_err().to_string();
    assert!(err.contains("at most") && err.contains("softmax"), "{err}");
    let (gamma, beta) = (Tensor::full(&g.dev, &[n], 1.0).unwrap(), Tensor::zeros(&g.dev, &[n]).unwrap());
    let err = ops::layer_norm(&x, &gamma, &beta, 1e-5).unwrap_err().to_string();
    assert!(err.contains("at most") && err.contains("layer_norm"), "{err}");
}

#[test]
fn max_gradient_goes_to_first_maximum_only() {
    let Some(g) = gpu() else { return };
    let x = [1.0, 3.0, 3.0, -2.0];
    let xg = Tensor::from_slice(&g.dev, &x, &[1, 4]).unwrap();
    let y = ops::reduce(&xg, Reduce::Max).unwrap();
    let dy = Tensor::from_slice(&g.dev, &[2.0], &[1]).unwrap();
    assert_eq!(ops::reduce_bwd(&xg, &y, &dy, Reduce::Max).unwrap().to_vec().unwrap(), vec![0.0, 2.0, 0.0, 0.0]);
}

#[test]
fn softmaxes_match_cpu_on_awkward_shapes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(2);
    for op in [Softmax::Softmax, Softmax::LogSoftmax] {
        for &(rows, n) in SHAPES {
            let x = rng.vec(rows * n, -6.0, 6.0);
            let (xg, xc) = pair(&g.dev, &x, &[rows, n]);
            let (yg, yc) = (ops::softmax(&xg, op).unwrap(), ops::softmax(&xc, op).unwrap());
            assert_close(&format!("{op:?} {rows}x{n}"), &yg.to_vec().unwrap(), &yc.to_vec().unwrap(), 1e-6, 1e-5);
            let dy = rng.vec(rows * n, -1.0, 1.0);
            let (dyg, dyc) = pair(&g.dev, &dy, &[rows, n]);
            let got = ops::softmax_bwd(&yg, &dyg, op).unwrap().to_vec().unwrap();
            let want = ops::softmax_bwd(&yc, &dyc, op).unwrap().to_vec().unwrap();
            assert_close(&format!("{op:?} backward {rows}x{n}"), &got, &want, 1e-5, 1e-4);
        }
    }
}

#[test]
fn sum_leading_matches_cpu_across_multi_pass_trees() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(3);
    for &(rows, n) in
        &[(1, 1), (3, 17), (64, 3), (65, 3), (127, 33), (4097, 5), (5000, 1), (65, 8), (1000, 72), (4100, 4)]
    {
        let x = rng.vec(rows * n, -1.0, 1.0);
        let (xg, xc) = pair(&g.dev, &x, &[rows, n]);
        let got = ops::sum_leading(&xg).unwrap();
        assert_eq!(got.shape(), &[n]);
        let tol = 2e-6 * (rows as f64).sqrt();
        assert_close(
            &format!("sum_leading {rows}x{n}"),
            &got.to_vec().unwrap(),
            &ops::sum_leading(&xc).unwrap().to_vec().unwrap(),
            tol,
            1e-5,
        );
    }
    let x = rng.vec(3 * 5 * 7, -1.0, 1.0);
    let (xg, xc) = pair(&g.dev, &x, &[3, 5, 7]);
    let (sg, sc) = (ops::sum_all(&xg).unwrap(), ops::sum_all(&xc).unwrap());
    assert_eq!(sg.shape(), &[] as &[usize]);
    assert!((sg.item().unwrap() - sc.item().unwrap()).abs() < 1e-5);
}

#[test]
fn sum_leading_is_bitwise_deterministic() {
    let Some(g) = gpu() else { return };
    let x = Rng::new(4).vec(20000 * 3, -1.0, 1.0);
    let xg = Tensor::from_slice(&g.dev, &x, &[20000, 3]).unwrap();
    let a = ops::sum_leading(&xg).unwrap().to_vec().unwrap();
    let b = ops::sum_leading(&xg).unwrap().to_vec().unwrap();
    assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
}
