//! Matmul / linear gradients: f64 CPU backward against finite differences; GPU backward
//! against the CPU backward; the CPU GEMM twin against the naive triple loop.
mod common;

use common::*;
use vdd::cpu::gemm::{gemm, gemm_naive, GemmShape};
use vdd::kernels::matmul::GemmConfig;
use vdd::tensor::ops;
use vdd::{Device, Tensor};

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

/// `linear_grads_acc` adds `xᵀ·dy` and `Σ_rows dy` to existing gradients, on awkward shapes,
/// with the bias slot joined to the weight slot (one fused product on the GPU, checked through
/// the profiler: a BIAS_ROW product and no separate reduction or copy), apart from it, and
/// absent; large row counts take the split-K path. Guard elements around the slots must stay.
#[test]
fn linear_grads_accumulate_into_slots_like_the_cpu() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let mut rng = Rng::new(33);
    // (rows, fan_in, fan_out, the fused product must run when the bias is joined)
    for &(rows, fan_in, fan_out, fused) in &[
        (1, 12, 8, false), // rows % 4 ≠ 0 (the product's k): computed, then added
        (3, 16, 4, false),
        (17, 33, 12, false), // fan_in % 4 ≠ 0
        (127, 72, 288, false),
        (128, 72, 288, true),
        (300, 64, 16, true),
        (4096, 16, 24, true), // split-K, accumulating reduction
        (5, 4, 8, false),     // few weight rows: the general kernel, then added
    ] {
        let (x, dy) = (rng.vec(rows * fan_in, -1.0, 1.0), rng.vec(rows * fan_out, -1.0, 1.0));
        let nw = fan_in * fan_out;
        let slot = rng.vec(nw + fan_out + 8, -1.0, 1.0);
        let mut want = slot.clone();
        for r in 0..rows {
            for j in 0..fan_out {
                for i in 0..fan_in {
                    want[4 + i * fan_out + j] += x[r * fan_in + i] * dy[r * fan_out + j];
                }
                want[4 + nw + j] += dy[r * fan_out + j];
            }
        }
        for layout in ["joined", "apart", "no bias"] {
            let dev = &g.dev;
            let buf = Tensor::from_slice(dev, &slot, &[slot.len()]).unwrap();
            let gw = buf.view_flat(4, &[fan_in, fan_out]).unwrap();
            let apart = Tensor::from_slice(dev, &slot[4 + nw..4 + nw + fan_out], &[fan_out]).unwrap();
            let gb = match layout {
                "joined" => Some(buf.view_flat(4 + nw, &[fan_out]).unwrap()),
                "apart" => Some(apart.clone()),
                _ => None,
            };
            let xt = Tensor::from_slice(dev, &x, &[rows, fan_in]).unwrap();
            let dyt = Tensor::from_slice(dev, &dy, &[rows, fan_out]).unwrap();
            dev.sync().unwrap();
            gpu.start_profiling().unwrap();
            ops::linear_grads_acc(&xt, &dyt, &gw, gb.as_ref()).unwrap();
            let timings = gpu.stop_profiling().unwrap();
            let what = format!("{rows}x{fan_in}x{fan_out} {layout}");
            let got = buf.to_vec().unwrap();
            let tol = 1e-5 * (rows as f64).sqrt() * 4.0;
            assert_close(&format!("{what}: weight"), &got[4..4 + nw], &want[4..4 + nw], tol, 1e-5);
            let bias_want =
                if layout == "no bias" { &slot[4 + nw..4 + nw + fan_out] } else { &want[4 + nw..4 + nw + fan_out] };
            let bias_got =
                if layout == "apart" { apart.to_vec().unwrap() } else { got[4 + nw..4 + nw + fan_out].to_vec() };
            assert_close(&format!("{what}: bias"), &bias_got, bias_want, tol, 1e-5);
            assert_eq!(&got[..4], &slot[..4], "{what}: guard before the slots");
            assert_eq!(&got[4 + nw + fan_out..], &slot[4 + nw + fan_out..], "{what}: guard after the slots");
            if fused && layout == "joined" {
                let products: Vec<_> = timings.iter().filter(|t| t.label.starts_with("matmul/")).collect();
                assert!(
                    products.len() == 1
                        && products[0].variant.contains("BIAS_ROW=1")
                        && products[0].variant.contains("ACC_C="),
                    "{what}: expected one fused bias-row product, got {:?}",
                    timings.iter().map(|t| (&t.label, &t.variant)).collect::<Vec<_>>()
                );
                assert!(!timings.iter().any(|t| t.label.starts_with("copy/")), "{what}: fused gradients need no copy");
            }
        }
    }
}

/// `linear_bwd_input_acc` returns `acc + dy·wᵀ`: on the GPU the product adds itself into an
/// unshared `acc` (no separate sum, checked through the profiler), and a shared `acc` is left
/// untouched (the sum goes to a new tensor). Awkward shapes take the compute-then-add path.
#[test]
fn input_gradient_accumulates_in_place_only_when_unshared() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let mut rng = Rng::new(34);
    for &(rows, fan_in, fan_out, fused) in &[
        (320, 72, 72, true),
        (320, 72, 288, true),
        (4096, 16, 16, true),
        (64, 16, 2048, true), // split-K: the reduction accumulates
        (17, 33, 12, false),
        (6, 8, 4, false),
    ] {
        let (w, dy, acc) = (
            rng.vec(fan_in * fan_out, -1.0, 1.0),
            rng.vec(rows * fan_out, -1.0, 1.0),
            rng.vec(rows * fan_in, -1.0, 1.0),
        );
        let mut want = acc.clone();
        for r in 0..rows {
            for i in 0..fan_in {
                want[r * fan_in + i] += (0..fan_out).map(|j| dy[r * fan_out + j] * w[i * fan_out + j]).sum::<f32>();
            }
        }
        for shared in [false, true] {
            let dev = &g.dev;
            let wt = Tensor::from_slice(dev, &w, &[fan_in, fan_out]).unwrap();
            let dyt = Tensor::from_slice(dev, &dy, &[rows, fan_out]).unwrap();
            let acct = Tensor::from_slice(dev, &acc, &[rows, fan_in]).unwrap();
            let keep = shared.then(|| acct.clone());
            dev.sync().unwrap();
            gpu.start_profiling().unwrap();
            let got = ops::linear_bwd_input_acc(&wt, &dyt, &[rows, fan_in], Some(acct)).unwrap();
            let timings = gpu.stop_profiling().unwrap();
            let what = format!("{rows}x{fan_in}x{fan_out} shared={shared}");
            assert_close(&what, &got.to_vec().unwrap(), &want, 1e-5 * (fan_out as f64).sqrt() * 4.0, 1e-5);
            if fan_out == 2048 && !shared {
                assert!(
                    timings.iter().any(|t| t.label.starts_with("reduce/sum_leading") && t.variant.contains("ACC=1")),
                    "{what}: expected a split-K product with an accumulating reduction"
                );
            }
            if let Some(k) = keep {
                assert_eq!(k.to_vec().unwrap(), acc, "{what}: a shared accumulator must not change");
            } else if fused {
                assert!(
                    !timings.iter().any(|t| t.label.starts_with("elementwise/")),
                    "{what}: the product should add in place, got {:?}",
                    timings.iter().map(|t| &t.label).collect::<Vec<_>>()
                );
            }
        }
    }
}

/// The fused weight-and-bias gradient product under explicit configurations: plain and
/// transposed-output tiles, one and several k-splits, with and without the bias row; the
/// results add to what the slots held.
#[test]
fn weight_gradient_bias_row_matches_cpu_for_every_tiling() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(35);
    let configs = [
        GemmConfig::Sg8 { tm: 32, tn4: 2, wg: 32, tc: false },
        GemmConfig::Sg8 { tm: 8, tn4: 1, wg: 8, tc: false },
        GemmConfig::Sg8 { tm: 72, tn4: 3, wg: 8, tc: true },
        GemmConfig::Sg8 { tm: 16, tn4: 1, wg: 16, tc: true },
    ];
    for &(rows, fan_in, fan_out) in &[(64, 16, 24), (256, 72, 8), (132, 8, 72), (20, 4, 4)] {
        let (x, dy) = (rng.vec(rows * fan_in, -1.0, 1.0), rng.vec(rows * fan_out, -1.0, 1.0));
        for with_bias in [true, false] {
            let len = (fan_in + usize::from(with_bias)) * fan_out;
            let slot = rng.vec(len + 4, -1.0, 1.0);
            let mut want = slot.clone();
            for r in 0..rows {
                for j in 0..fan_out {
                    for i in 0..fan_in {
                        want[i * fan_out + j] += x[r * fan_in + i] * dy[r * fan_out + j];
                    }
                    if with_bias {
                        want[fan_in * fan_out + j] += dy[r * fan_out + j];
                    }
                }
            }
            for &cfg in &configs {
                for splits in [1, 3] {
                    let dev = &g.dev;
                    let buf = Tensor::from_slice(dev, &slot, &[slot.len()]).unwrap();
                    let grad = buf.view_flat(0, &[len]).unwrap();
                    let xt = Tensor::from_slice(dev, &x, &[rows, fan_in]).unwrap();
                    let dyt = Tensor::from_slice(dev, &dy, &[rows, fan_out]).unwrap();
                    let what = format!("{cfg} x{splits} {rows}x{fan_in}x{fan_out} bias={with_bias}");
                    ops::linear_grads_acc_with(cfg, splits, &xt, &dyt, &grad, with_bias).unwrap();
                    let got = buf.to_vec().unwrap();
                    assert_close(&what, &got[..len], &want[..len], 1e-5 * (rows as f64).sqrt() * 4.0, 1e-5);
                    assert_eq!(&got[len..], &slot[len..], "{what}: wrote past the slots");
                }
            }
        }
    }
}
