//! The Gaussian-mixture kernels: GPU against CPU twins on awkward shapes (outputs poisoned),
//! and the closed-form VDD gradients against central finite differences of the loss they
//! claim to differentiate.
mod common;

use common::*;
use vdd::cpu::gaussian::{self as cpu, CholFill, ExpertShape};
use vdd::tensor::ops;
use vdd::{Device, Tensor};

/// Lower-triangular factors with diagonals in [0.4, 1.4].
fn chol(rng: &mut Rng, n: usize, d: usize) -> Vec<f64> {
    let mut l = rng.vec64(n * d * d, -0.4, 0.4);
    for m in l.chunks_mut(d * d) {
        for i in 0..d {
            for j in 0..d {
                if j > i {
                    m[i * d + j] = 0.0;
                } else if i == j {
                    m[i * d + j] = 0.9 + m[i * d + j] * 1.25;
                }
            }
        }
    }
    l
}

fn log_softmax(v: &mut [f64], z: usize) {
    for row in v.chunks_mut(z) {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
        row.iter_mut().for_each(|x| *x -= lse);
    }
}

struct Batch {
    s: ExpertShape,
    mean: Vec<f64>,
    chol: Vec<f64>,
    log_g: Vec<f64>,
    eps: Vec<f64>,
    score: Vec<f64>,
}

fn batch(rng: &mut Rng, rows: usize, experts: usize, samples: usize, dim: usize) -> Batch {
    let s = ExpertShape { rows, experts, samples, dim };
    let mut log_g = rng.vec64(rows * experts, -1.0, 1.0);
    log_softmax(&mut log_g, experts);
    let n = rows * experts * samples * dim;
    Batch {
        s,
        mean: rng.vec64(rows * experts * dim, -2.0, 2.0),
        chol: chol(rng, rows * experts, dim),
        log_g,
        eps: rng.vec64(n, -2.0, 2.0),
        score: rng.vec64(n, -1.5, 1.5),
    }
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn on(dev: &Device, v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(dev, &f32s(v), shape).unwrap()
}

const SHAPES: &[(usize, usize, usize, usize)] =
    &[(1, 1, 1, 1), (3, 3, 5, 2), (17, 8, 4, 2), (2, 4, 3, 3), (33, 2, 1, 7), (5, 17, 2, 2), (127, 8, 2, 2)];

#[test]
fn expert_kernels_match_cpu_on_awkward_shapes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(91);
    for &(r, z, v, d) in SHAPES {
        let b = batch(&mut rng, r, z, v, d);
        let tag = format!("R{r} Z{z} V{v} d{d}");
        let [gm, gl, gg, ge, gs, cm, cl, cg, ce, cs] = [
            (&g.dev, &b.mean, vec![r, z, d]),
            (&g.dev, &b.chol, vec![r, z, d, d]),
            (&g.dev, &b.log_g, vec![r, z]),
            (&g.dev, &b.eps, vec![r, z, v, d]),
            (&g.dev, &b.score, vec![r, z, v, d]),
            (&Device::Cpu, &b.mean, vec![r, z, d]),
            (&Device::Cpu, &b.chol, vec![r, z, d, d]),
            (&Device::Cpu, &b.log_g, vec![r, z]),
            (&Device::Cpu, &b.eps, vec![r, z, v, d]),
            (&Device::Cpu, &b.score, vec![r, z, v, d]),
        ]
        .map(|(dev, x, s)| on(dev, x, &s));
        let ag = ops::expert_sample(&gm, &gl, &ge).unwrap();
        let ac = ops::expert_sample(&cm, &cl, &ce).unwrap();
        assert_close(&format!("expert_sample {tag}"), &ag.to_vec().unwrap(), &ac.to_vec().unwrap(), 1e-5, 1e-5);
        for use_resp in [true, false] {
            let og = ops::expert_grad(&gm, &gl, &gg, &ge, &gs, use_resp).unwrap();
            let oc = ops::expert_grad(&cm, &cl, &cg, &ce, &cs, use_resp).unwrap();
            let t = format!("{tag} resp={use_resp}");
            assert_close(
                &format!("d_mean {t}"),
                &og.d_mean.to_vec().unwrap(),
                &oc.d_mean.to_vec().unwrap(),
                1e-5,
                1e-3,
            );
            assert_close(
                &format!("d_chol {t}"),
                &og.d_chol.to_vec().unwrap(),
                &oc.d_chol.to_vec().unwrap(),
                1e-5,
                1e-3,
            );
            assert_close(
                &format!("log_resp {t}"),
                &og.log_resp.to_vec().unwrap(),
                &oc.log_resp.to_vec().unwrap(),
                1e-4,
                1e-4,
            );
        }
        let acts = rng.vec64(r * d, -3.0, 3.0);
        let (lqg, dgg) = ops::mixture_log_prob(&gm, &gl, &gg, &on(&g.dev, &acts, &[r, d])).unwrap();
        let (lqc, dgc) = ops::mixture_log_prob(&cm, &cl, &cg, &on(&Device::Cpu, &acts, &[r, d])).unwrap();
        assert_close(&format!("log_q {tag}"), &lqg.to_vec().unwrap(), &lqc.to_vec().unwrap(), 1e-4, 1e-5);
        assert_close(&format!("d_log_g {tag}"), &dgg.to_vec().unwrap(), &dgc.to_vec().unwrap(), 1e-7, 1e-4);
        let (lqg, dmg, dlg) = ops::mixture_nll_grad(&gm, &gl, &gg, &on(&g.dev, &acts, &[r, d])).unwrap();
        let (lqc, dmc, dlc) = ops::mixture_nll_grad(&cm, &cl, &cg, &on(&Device::Cpu, &acts, &[r, d])).unwrap();
        assert_close(&format!("nll log_q {tag}"), &lqg.to_vec().unwrap(), &lqc.to_vec().unwrap(), 1e-4, 1e-5);
        assert_close(&format!("nll d_mean {tag}"), &dmg.to_vec().unwrap(), &dmc.to_vec().unwrap(), 1e-6, 1e-3);
        assert_close(&format!("nll d_chol {tag}"), &dlg.to_vec().unwrap(), &dlc.to_vec().unwrap(), 1e-6, 1e-3);
    }
}

#[test]
fn mixture_score_kernel_matches_cpu_at_noise_levels() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(92);
    for &(groups, k, d, q) in &[(1, 1, 1, 1), (3, 8, 2, 17), (2, 3, 3, 33), (5, 2, 7, 3), (1, 8, 2, 1000)] {
        let means = rng.vec64(groups * k * d, -2.0, 2.0);
        // SPD covariances L Lᵀ.
        let ls = chol(&mut rng, groups * k, d);
        let covs: Vec<f64> = ls
            .chunks(d * d)
            .flat_map(|l| (0..d * d).map(move |e| (0..d).map(|t| l[(e / d) * d + t] * l[(e % d) * d + t]).sum::<f64>()))
            .collect();
        let mut lw = rng.vec64(groups * k, -1.0, 1.0);
        log_softmax(&mut lw, k);
        let x = rng.vec64(groups * q * d, -3.0, 3.0);
        let noise: Vec<f64> = (0..groups * q).flat_map(|i| [[1.0, 0.0], [1.0, 0.09], [0.8, 0.36]][i % 3]).collect();
        let run = |dev: &Device| {
            ops::mixture_score(
                &on(dev, &means, &[groups, k, d]),
                &on(dev, &covs, &[groups, k, d, d]),
                &on(dev, &lw, &[groups, k]),
                &on(dev, &x, &[groups, q, d]),
                &on(dev, &noise, &[groups, q, 2]),
            )
            .unwrap()
        };
        let ((sg, pg), (sc, pc)) = (run(&g.dev), run(&Device::Cpu));
        let tag = format!("G{groups} K{k} d{d} Q{q}");
        assert_close(&format!("mixture score {tag}"), &sg.to_vec().unwrap(), &sc.to_vec().unwrap(), 1e-4, 1e-3);
        assert_close(&format!("mixture log p {tag}"), &pg.to_vec().unwrap(), &pc.to_vec().unwrap(), 1e-4, 1e-5);
    }
}

/// The expert loss with the responsibilities' parameters frozen at `(m0, l0)` (the detached
/// E-step), as a function of the live `(mean, chol)`.
fn expert_loss(b: &Batch, mean: &[f64], chol: &[f64], use_resp: bool) -> f64 {
    let ExpertShape { rows, experts: z, samples: v, dim: d } = b.s;
    let mut a = vec![0.0; rows * z * v * d];
    cpu::expert_sample(&b.s, mean, chol, &b.eps, &mut a);
    let mut total = 0.0;
    for r in 0..rows {
        for e in 0..z {
            let rz = r * z + e;
            let mut j = 0.0;
            for s in 0..v {
                let row = (rz * v + s) * d;
                let ai = &a[row..row + d];
                j += (0..d).map(|i| b.score[row + i] * ai[i]).sum::<f64>() / v as f64;
                if use_resp {
                    // log q̃(e|a) with the frozen mixture of state r.
                    let one = ExpertShape { rows: 1, experts: z, samples: 1, dim: d };
                    let (mut lq, mut dg) = ([0.0], vec![0.0; z]);
                    let (m0, l0, g0) =
                        (&b.mean[r * z * d..][..z * d], &b.chol[r * z * d * d..][..z * d * d], &b.log_g[r * z..][..z]);
                    cpu::mixture_log_prob(&one, m0, l0, g0, ai, &mut lq, &mut dg);
                    // d_log_g = −q̃(k|a)/Z, so q̃(e|a) = −Z·dg[e].
                    j += (-(z as f64) * dg[e]).ln() / v as f64;
                }
            }
            j += (0..d).map(|i| chol[rz * d * d + i * d + i].ln()).sum::<f64>();
            total -= b.log_g[rz].exp() * j;
        }
    }
    total / (rows * z) as f64
}

#[test]
fn expert_gradient_matches_finite_differences_of_the_vdd_loss() {
    let mut rng = Rng::new(93);
    for &(r, z, v, d) in &[(1, 1, 1, 1), (2, 3, 4, 2), (1, 4, 3, 3)] {
        let b = batch(&mut rng, r, z, v, d);
        for use_resp in [true, false] {
            let (mut dm, mut dl, mut lr) = (vec![0.0; r * z * d], vec![0.0; r * z * d * d], vec![0.0; r * z]);
            cpu::expert_grad(&b.s, &b.mean, &b.chol, &b.log_g, &b.eps, &b.score, use_resp, &mut dm, &mut dl, &mut lr);
            let tag = format!("R{r} Z{z} V{v} d{d} resp={use_resp}");
            check_grad(&format!("d_mean {tag}"), &|m| expert_loss(&b, m, &b.chol, use_resp), &b.mean, &dm, 1e-6);
            // Only the lower triangle is a parameter; the gradient above it must be zero.
            let lower: Vec<usize> = (0..r * z * d * d).filter(|e| (e % (d * d)) % d <= (e % (d * d)) / d).collect();
            let f = |x: &[f64]| {
                let mut l = b.chol.clone();
                lower.iter().zip(x).for_each(|(&e, &v)| l[e] = v);
                expert_loss(&b, &b.mean, &l, use_resp)
            };
            let x0: Vec<f64> = lower.iter().map(|&e| b.chol[e]).collect();
            let an: Vec<f64> = lower.iter().map(|&e| dl[e]).collect();
            check_grad(&format!("d_chol {tag}"), &f, &x0, &an, 1e-6);
            assert!(
                (0..r * z * d * d).filter(|e| !lower.contains(e)).all(|e| dl[e] == 0.0),
                "upper triangle of d_chol"
            );
        }
    }
}

#[test]
fn gating_gradient_matches_finite_differences_of_the_cross_entropy() {
    let mut rng = Rng::new(94);
    let b = batch(&mut rng, 3, 4, 1, 2);
    let acts = rng.vec64(3 * 2, -2.0, 2.0);
    let (mut lq, mut dg) = (vec![0.0; 3], vec![0.0; 12]);
    cpu::mixture_log_prob(&b.s, &b.mean, &b.chol, &b.log_g, &acts, &mut lq, &mut dg);
    // Responsibilities are constants: loss(log g) = −1/(R·Z) Σ resp·log g.
    let resp: Vec<f64> = dg.iter().map(|x| -x * 12.0).collect();
    for row in resp.chunks(4) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "responsibilities sum to 1");
    }
    let f = |lg: &[f64]| -lg.iter().zip(&resp).map(|(l, r)| l * r).sum::<f64>() / 12.0;
    check_grad("d_log_g", &f, &b.log_g, &dg, 1e-8);
    // log q is the mixture log-density: compare with the mixture_score twin at zero noise.
    let covs: Vec<f64> = b
        .chol
        .chunks(4)
        .flat_map(|l| (0..4).map(move |e| (0..2).map(|t| l[(e / 2) * 2 + t] * l[(e % 2) * 2 + t]).sum::<f64>()))
        .collect();
    let ms = cpu::MixtureShape { groups: 3, components: 4, dim: 2, queries: 1 };
    let (mut sc, mut lp) = (vec![0.0; 6], vec![0.0; 3]);
    cpu::mixture_score(&ms, &b.mean, &covs, &b.log_g, &acts, &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], &mut sc, &mut lp);
    assert_close64("log q vs mixture_score", &lq, &lp, 1e-12, 1e-12);
}

/// `−1/R Σ_r log Σ_z g_z N(a_r; μ_z, L_z L_zᵀ)` evaluated directly (f64).
fn mixture_nll(b: &Batch, mean: &[f64], chol: &[f64], acts: &[f64]) -> f64 {
    let (rows, z, d) = (b.s.rows, b.s.experts, b.s.dim);
    let mut total = 0.0;
    for r in 0..rows {
        let a = &acts[r * d..][..d];
        let mut q = 0.0;
        for k in 0..z {
            let rk = r * z + k;
            let (l, mu) = (&chol[rk * d * d..][..d * d], &mean[rk * d..][..d]);
            let mut y = vec![0.0; d];
            for i in 0..d {
                y[i] = (a[i] - mu[i] - (0..i).map(|t| l[i * d + t] * y[t]).sum::<f64>()) / l[i * d + i];
            }
            let det: f64 = (0..d).map(|i| l[i * d + i]).product();
            let quad: f64 = y.iter().map(|v| v * v).sum();
            q += b.log_g[rk].exp() * (-0.5 * quad).exp() / (det * (2.0 * std::f64::consts::PI).powf(d as f64 / 2.0));
        }
        total -= q.ln();
    }
    total / rows as f64
}

#[test]
fn mixture_nll_gradient_matches_finite_differences() {
    let mut rng = Rng::new(95);
    for &(r, z, d) in &[(1, 1, 1), (3, 4, 2), (2, 3, 3)] {
        let b = batch(&mut rng, r, z, 1, d);
        let acts = rng.vec64(r * d, -2.0, 2.0);
        let (mut lq, mut dm, mut dl) = (vec![0.0; r], vec![0.0; r * z * d], vec![0.0; r * z * d * d]);
        cpu::mixture_nll_grad(&b.s, &b.mean, &b.chol, &b.log_g, &acts, &mut lq, &mut dm, &mut dl);
        let tag = format!("R{r} Z{z} d{d}");
        let nll = -lq.iter().sum::<f64>() / r as f64;
        let direct = mixture_nll(&b, &b.mean, &b.chol, &acts);
        assert!((nll - direct).abs() < 1e-10, "{tag}: NLL {nll} vs direct {direct}");
        check_grad(&format!("d_mean {tag}"), &|m| mixture_nll(&b, m, &b.chol, &acts), &b.mean, &dm, 1e-7);
        let lower: Vec<usize> = (0..r * z * d * d).filter(|e| (e % (d * d)) % d <= (e % (d * d)) / d).collect();
        assert!(
            (0..r * z * d * d).filter(|e| !lower.contains(e)).all(|e| dl[e] == 0.0),
            "{tag}: d_chol must be zero above the diagonal"
        );
        let f = |x: &[f64]| {
            let mut l = b.chol.clone();
            lower.iter().zip(x).for_each(|(&e, &v)| l[e] = v);
            mixture_nll(&b, &b.mean, &l, &acts)
        };
        let x0: Vec<f64> = lower.iter().map(|&e| b.chol[e]).collect();
        let an: Vec<f64> = lower.iter().map(|&e| dl[e]).collect();
        check_grad(&format!("d_chol {tag}"), &f, &x0, &an, 1e-7);
    }
}

fn softplus64(x: f64) -> f64 {
    if x > 20.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// The factor layout by hand: row-major over j ≤ i (full) or the diagonal, softplus on it.
#[test]
fn chol_fill_fills_the_lower_triangle_row_by_row() {
    let (shift, floor) = (0.5f32, 1e-3f32);
    let sp = |x: f64| softplus64(x + f64::from(shift)) + f64::from(floor);
    let raw = [0.3, -1.2, 0.7, 2.0, -0.4, 1.5];
    let full = CholFill { dim: 3, full: true, shift, floor };
    let l = ops::chol_fill(&t64(&raw, &[1, 6]), &full).unwrap();
    assert_eq!(l.shape(), &[1, 3, 3]);
    let want = [sp(0.3), 0.0, 0.0, -1.2, sp(0.7), 0.0, 2.0, -0.4, sp(1.5)];
    assert_close64("full d=3", &l.to_vec64().unwrap(), &want, 1e-12, 1e-12);
    let diag = CholFill { dim: 2, full: false, ..full };
    let l = ops::chol_fill(&t64(&raw[..4], &[2, 2]), &diag).unwrap();
    let want = [sp(0.3), 0.0, 0.0, sp(-1.2), sp(0.7), 0.0, 0.0, sp(2.0)];
    assert_close64("diagonal d=2", &l.to_vec64().unwrap(), &want, 1e-12, 1e-12);
    let err = ops::chol_fill(&t64(&raw[..5], &[1, 5]), &full).unwrap_err().to_string();
    assert!(err.contains("expected [..., 6]"), "{err}");
}

#[test]
fn chol_fill_kernels_match_cpu_on_awkward_shapes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(93);
    for &n in AWKWARD {
        for (d, full) in [(1, true), (2, true), (3, false), (7, true), (2, false)] {
            let c = CholFill { dim: d, full, shift: 0.5413, floor: 1e-4 };
            let k = c.slots();
            // Raw values across softplus's linear threshold (raw + shift > 20) too.
            let raw: Vec<f64> = rng
                .vec64(n * k, -4.0, 4.0)
                .into_iter()
                .enumerate()
                .map(|(i, v)| if i % 11 == 5 { v + 22.0 } else { v })
                .collect();
            let dl = rng.vec64(n * d * d, -1.0, 1.0);
            let tag = format!("n{n} d{d} full={full}");
            let lg = ops::chol_fill(&on(&g.dev, &raw, &[n, k]), &c).unwrap();
            let lc = ops::chol_fill(&on(&Device::Cpu, &raw, &[n, k]), &c).unwrap();
            assert_close(&format!("chol_fill {tag}"), &lg.to_vec().unwrap(), &lc.to_vec().unwrap(), 1e-6, 1e-6);
            let dg = ops::chol_fill_bwd(&on(&g.dev, &raw, &[n, k]), &on(&g.dev, &dl, &[n, d, d]), &c).unwrap();
            let dc =
                ops::chol_fill_bwd(&on(&Device::Cpu, &raw, &[n, k]), &on(&Device::Cpu, &dl, &[n, d, d]), &c).unwrap();
            assert_close(&format!("chol_fill_bwd {tag}"), &dg.to_vec().unwrap(), &dc.to_vec().unwrap(), 1e-6, 1e-6);
        }
    }
}

/// L(raw) = Σ w ⊙ chol_fill(raw): its gradient is chol_fill_bwd(raw, w).
#[test]
fn chol_fill_backward_matches_finite_differences() {
    let mut rng = Rng::new(94);
    for (d, full) in [(1, true), (2, true), (3, true), (3, false)] {
        let c = CholFill { dim: d, full, shift: 0.5413, floor: 1e-4 };
        let (n, k) = (3, c.slots());
        let raw = rng.vec64(n * k, -3.0, 3.0);
        let w = rng.vec64(n * d * d, -1.0, 1.0);
        let loss = |x: &[f64]| -> f64 {
            let l = ops::chol_fill(&t64(x, &[n, k]), &c).unwrap().to_vec64().unwrap();
            l.iter().zip(&w).map(|(a, b)| a * b).sum()
        };
        let g = ops::chol_fill_bwd(&t64(&raw, &[n, k]), &t64(&w, &[n, d, d]), &c).unwrap().to_vec64().unwrap();
        check_grad(&format!("chol_fill d{d} full={full}"), &loss, &raw, &g, 1e-6);
    }
}
