//! Matmul / linear gradients: f64 CPU backward against finite differences; GPU backward
//! against the CPU backward; the CPU GEMM twin against the naive triple loop.
mod common;

use common::*;
use vdd::cpu::gemm::{gemm, gemm_naive, GemmShape};
use vdd::tensor::ops;
use vdd::{Device, Tensor};

fn t64(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64(&Device::CpuF64, v, shape).unwrap()
}

#[test]
fn cpu_gemm_matches_naive_loop_including_tiny_dims() {
    let mut rng = Rng::new(31);
    for &(m, n, k) in &[(1, 1, 1), (2, 3, 4), (5, 5, 5), (6, 1, 7), (17, 5, 33), (3, 64, 2)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let s = GemmShape {
                batch: 2,
                m,
                n,
                k,
                trans_a: ta,
                trans_b: tb,
                batch_stride_a: m * k,
                batch_stride_b: 0,
                alpha: 0.5,
            };
            let (a, b, bias) =
                (rng.vec64(s.a_len(), -1.0, 1.0), rng.vec64(s.b_len(), -1.0, 1.0), rng.vec64(n, -1.0, 1.0));
            // Guard bands catch writes past the output.
            let mut got = vec![7.0; s.c_len() + 8];
            gemm(&s, &a, &b, Some(&bias), &mut got[..s.c_len()]);
            let mut want = vec![0.0; s.c_len()];
            gemm_naive(&s, &a, &b, Some(&bias), &mut want);
            assert_close64(&format!("cpu gemm {m}x{n}x{k} ta={ta} tb={tb}"), &got[..s.c_len()], &want, 1e-12, 1e-12);
            assert!(got[s.c_len()..].iter().all(|&v| v == 7.0), "cpu gemm wrote past its output");
        }
    }
}

#[test]
fn matmul_backward_matches_finite_differences() {
    let mut rng = Rng::new(32);
    let cases: &[(&[usize], &[usize])] = &[(&[3, 4], &[4, 5]), (&[2, 3, 4], &[4, 2]), (&[3, 2, 4], &[3, 4, 2])];
    for &(sa, sb) in cases {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let swap = |s: &[usize], t: bool| -> Vec<usize> {
                let mut v = s.to_vec();
                if t {
                    let r = v.len();
                    v.swap(r - 1, r - 2);
                }
                v
            };
            let (sa, sb) = (swap(sa, ta), swap(sb, tb));
            let a = rng.vec64(sa.iter().product(), -1.0, 1.0);
            let b = rng.vec64(sb.iter().product(), -1.0, 1.0);
            let out = ops::matmul(&t64(&a, &sa), &t64(&b, &sb), ta, tb).unwrap();
            let w = rng.vec64(out.numel(), -1.0, 1.0);
            let wt = t64(&w, out.shape());
            let (da, db) = ops::matmul_bwd(&t64(&a, &sa), &t64(&b, &sb), &wt, ta, tb).unwrap();
            assert_eq!(da.shape(), sa.as_slice());
            assert_eq!(db.shape(), sb.as_slice());
            let la = |x: &[f64]| -> f64 {
                let y = ops::matmul(&t64(x, &sa), &t64(&b, &sb), ta, tb).unwrap().to_vec64().unwrap();
                y.iter().zip(&w).map(|(p, q)| p * q).sum()
            };
            let lb = |x: &[f64]| -> f64 {
                let y = ops::matmul(&t64(&a, &sa), &t64(x, &sb), ta, tb).unwrap().to_vec64().unwrap();
                y.iter().zip(&w).map(|(p, q)| p * q).sum()
            };
            check_grad(&format!("matmul da {sa:?}·{sb:?} ta={ta} tb={tb}"), &la, &a, &da.to_vec64().unwrap(), 1e-7);
            check_grad(&format!("matmul db {sa:?}·{sb:?} ta={ta} tb={tb}"), &lb, &b, &db.to_vec64().unwrap(), 1e-7);
        }
    }
}

#[test]
fn linear_backward_matches_finite_differences() {
    let mut rng = Rng::new(33);
    let (x, w, bias) = (rng.vec64(2 * 3 * 4, -1.0, 1.0), rng.vec64(4 * 5, -1.0, 1.0), rng.vec64(5, -1.0, 1.0));
    let g = rng.vec64(2 * 3 * 5, -1.0, 1.0);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        let y = ops::linear(&t64(x, &[2, 3, 4]), &t64(w, &[4, 5]), Some(&t64(b, &[5]))).unwrap().to_vec64().unwrap();
        y.iter().zip(&g).map(|(p, q)| p * q).sum()
    };
    let (dx, dw, db) = ops::linear_bwd(&t64(&x, &[2, 3, 4]), &t64(&w, &[4, 5]), &t64(&g, &[2, 3, 5]), true).unwrap();
    check_grad("linear dx", &|v| loss(v, &w, &bias), &x, &dx.to_vec64().unwrap(), 1e-7);
    check_grad("linear dw", &|v| loss(&x, v, &bias), &w, &dw.to_vec64().unwrap(), 1e-7);
    check_grad("linear db", &|v| loss(&x, &w, v), &bias, &db.unwrap().to_vec64().unwrap(), 1e-7);
}

#[test]
fn gpu_linear_backward_matches_cpu_on_model_shapes() {
    let Some(gd) = gpu() else { return };
    let mut rng = Rng::new(34);
    for &(rows, fin, fout) in &[(320, 72, 288), (320, 288, 72), (17, 3, 33), (320, 72, 2), (5, 1, 72)] {
        let (x, w, b, dy) = (
            rng.vec(rows * fin, -1.0, 1.0),
            rng.vec(fin * fout, -0.3, 0.3),
            rng.vec(fout, -1.0, 1.0),
            rng.vec(rows * fout, -1.0, 1.0),
        );
        let run = |d: &Device| {
            let xt = Tensor::from_slice(d, &x, &[rows, fin]).unwrap();
            let wt = Tensor::from_slice(d, &w, &[fin, fout]).unwrap();
            let bt = Tensor::from_slice(d, &b, &[fout]).unwrap();
            let y = ops::linear(&xt, &wt, Some(&bt)).unwrap().to_vec().unwrap();
            let (dx, dw, db) =
                ops::linear_bwd(&xt, &wt, &Tensor::from_slice(d, &dy, &[rows, fout]).unwrap(), true).unwrap();
            (y, dx.to_vec().unwrap(), dw.to_vec().unwrap(), db.unwrap().to_vec().unwrap())
        };
        let (g, c) = (run(&gd.dev), run(&Device::Cpu));
        let tol = |k: usize| 1e-5 * (k as f64).sqrt();
        assert_close(&format!("linear y {rows}x{fin}x{fout}"), &g.0, &c.0, tol(fin), 1e-5);
        assert_close(&format!("linear dx {rows}x{fin}x{fout}"), &g.1, &c.1, tol(fout), 1e-5);
        assert_close(&format!("linear dw {rows}x{fin}x{fout}"), &g.2, &c.2, tol(rows), 1e-5);
        assert_close(&format!("linear db {rows}x{fin}x{fout}"), &g.3, &c.3, tol(rows), 1e-5);
    }
}
