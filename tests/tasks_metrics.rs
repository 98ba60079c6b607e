//! Analytic targets (exact scores against finite differences of exact log-densities, sampling
//! moments, the gmm: file format) and the distribution metrics on cases with known answers.
mod common;

use common::*;
use vdd::cpu::rng::HostRng;
use vdd::metrics;
use vdd::tasks::{self, Gmm};

fn fd_score(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    numeric_grad(f, x, 1e-5)
}

fn check_scores(g: &Gmm, what: &str) {
    let mut rng = HostRng::new(1, 0);
    let xs = g.smoothed(1.0).sample(20, &mut rng);
    let d = g.dim();
    for sigma in [0.0, 0.2, 0.5] {
        let smooth = g.smoothed(sigma);
        let got = g.score_ve(&xs, sigma);
        for (i, x) in xs.chunks(d).enumerate() {
            let want = fd_score(&|p: &[f64]| smooth.log_prob(p)[0], x);
            assert_close64(
                &format!("{what} VE score σ={sigma} point {i}"),
                &got[i * d..(i + 1) * d],
                &want,
                1e-6,
                1e-6,
            );
        }
    }
    for ab in [0.9f64, 0.5, 0.1] {
        // p_t = Σ w N(√ᾱ m, ᾱ S + (1 − ᾱ) I), built explicitly.
        let k = g.components();
        let means = (0..k).map(|c| g.mean(c).iter().map(|m| ab.sqrt() * m).collect()).collect();
        let covs = (0..k)
            .map(|c| {
                g.cov(c).iter().enumerate().map(|(e, s)| ab * s + if e / d == e % d { 1.0 - ab } else { 0.0 }).collect()
            })
            .collect();
        let pt = Gmm::new(g.weights().to_vec(), means, covs).unwrap();
        let got = g.score_vp(&xs, ab);
        for (i, x) in xs.chunks(d).enumerate() {
            let want = fd_score(&|p: &[f64]| pt.log_prob(p)[0], x);
            assert_close64(&format!("{what} VP score ᾱ={ab} point {i}"), &got[i * d..(i + 1) * d], &want, 1e-6, 1e-6);
        }
    }
}

#[test]
fn exact_scores_match_finite_differences_of_exact_log_densities() {
    check_scores(&tasks::AnalyticTask::ring().mixture(&[1.0, 1.0]), "ring");
    check_scores(&tasks::AnalyticTask::aniso().mixture(&[1.0, 1.0]), "aniso");
    let cr = tasks::AnalyticTask::cond_ring();
    for s in [-0.9, 0.0, 0.55] {
        check_scores(&cr.mixture(&[s]), &format!("cond-ring s={s}"));
    }
    // A 3-D full-covariance mixture exercises the general Cholesky path.
    let g3 = Gmm::new(
        vec![0.3, 0.7],
        vec![vec![0.0, 1.0, -1.0], vec![1.0, 0.0, 0.5]],
        vec![vec![1.0, 0.2, 0.1, 0.2, 0.5, 0.0, 0.1, 0.0, 0.8], vec![0.3, 0.0, 0.0, 0.0, 0.3, 0.1, 0.0, 0.1, 0.4]],
    )
    .unwrap();
    check_scores(&g3, "3-D mixture");
}

#[test]
fn samples_have_the_mixture_moments() {
    let g = tasks::AnalyticTask::aniso().mixture(&[1.0, 1.0]);
    let n = 200_000;
    let xs = g.sample(n, &mut HostRng::new(2, 0));
    let d = 2;
    let mut mu = [0.0; 2];
    for k in 0..3 {
        for i in 0..d {
            mu[i] += g.weights()[k] * g.mean(k)[i];
        }
    }
    let emp: Vec<f64> = (0..d).map(|i| xs.chunks(d).map(|x| x[i]).sum::<f64>() / n as f64).collect();
    assert_close64("sample mean", &emp, &mu, 0.03, 0.0);
    let mut cov = [0.0; 4];
    for k in 0..3 {
        for e in 0..4 {
            cov[e] += g.weights()[k] * (g.cov(k)[e] + g.mean(k)[e / 2] * g.mean(k)[e % 2]);
        }
    }
    for e in 0..4 {
        cov[e] -= mu[e / 2] * mu[e % 2];
    }
    let ecov: Vec<f64> = (0..4)
        .map(|e| xs.chunks(d).map(|x| (x[e / 2] - emp[e / 2]) * (x[e % 2] - emp[e % 2])).sum::<f64>() / n as f64)
        .collect();
    assert_close64("sample covariance", &ecov, &cov, 0.02, 0.01);
}

#[test]
fn cond_ring_rotates_with_the_state_and_reweights_modes() {
    let t = tasks::AnalyticTask::cond_ring();
    let (a, b) = (t.mixture(&[0.0]), t.mixture(&[1.0]));
    // s = 1 rotates the means by 90°: mode 0 moves from (2, 0) to (0, 2).
    assert_close64("rotated mean", b.mean(0), &[0.0, 2.0], 1e-12, 0.0);
    assert_close64("unrotated mean", a.mean(0), &[2.0, 0.0], 1e-12, 0.0);
    // The heaviest mode follows θ_k ≈ πs.
    let heaviest = |g: &Gmm| (0..8).max_by(|&i, &j| g.weights()[i].total_cmp(&g.weights()[j])).unwrap();
    assert_eq!(heaviest(&a), 0);
    assert_eq!(heaviest(&b), 4);
    assert!(a.weights().iter().all(|&w| w > 0.03), "every mode keeps some weight");
}

#[test]
fn gmm_files_parse_and_bad_ones_are_refused_with_reasons() {
    let ok = "weights = [0.5, 0.3, 0.2]\nmeans = [[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]]\ncovs = [[[0.10, 0.02], [0.02, 0.30]], [[0.2, 0.0], [0.0, 0.2]], [[0.05, 0.0], [0.0, 0.5]]]\n";
    let g = Gmm::from_toml(ok).unwrap();
    assert_eq!((g.components(), g.dim()), (3, 2));
    let iso = Gmm::from_toml("weights = [0.5, 0.5]\nmeans = [[0.0, 0.0], [3.0, 0.0]]\nstds = [0.3, 0.3]\n").unwrap();
    assert_eq!(iso.cov(1), &[0.09, 0.0, 0.0, 0.09]);
    let cases = [
        ("weights = [0.5, 0.6]\nmeans = [[0.0], [1.0]]\nstds = [1.0, 1.0]\n", "sum to"),
        ("weights = [1.0]\nmeans = [[0.0, 0.0]]\ncovs = [[[1.0, 2.0], [2.0, 1.0]]]\n", "not positive definite"),
        ("weights = [1.0]\nmeans = [[0.0, 0.0]]\ncovs = [[[1.0, 0.5], [0.0, 1.0]]]\n", "not symmetric"),
        ("weights = [1.0]\nmeans = [[0.0, 0.0]]\n", "exactly one of"),
        ("weights = [0.5, 0.5]\nmeans = [[0.0, 0.0], [1.0]]\nstds = [1.0, 1.0]\n", "component 1"),
        ("weights = [1.0]\nmeans = [[0.0]]\nstds = [1.0]\nextra = 3\n", "unknown field"),
    ];
    for (text, why) in cases {
        let err = Gmm::from_toml(text).unwrap_err().to_string();
        assert!(err.contains(why), "expected {why:?} in {err:?}");
    }
    assert!(tasks::analytic("gmm:/no/such/file.toml").unwrap_err().to_string().contains("/no/such/file.toml"));
    assert!(tasks::analytic("spiral").unwrap_err().to_string().contains("available"));
}

#[test]
fn hungarian_finds_the_optimal_assignment() {
    let mut rng = HostRng::new(3, 0);
    for n in [1, 2, 5, 7] {
        let cost: Vec<f64> = (0..n * n).map(|_| rng.uniform()).collect();
        let got = metrics::hungarian(&cost, n);
        let total = |p: &[usize]| p.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum::<f64>();
        // Brute force over permutations.
        let mut perm: Vec<usize> = (0..n).collect();
        let mut best = f64::INFINITY;
        permute(&mut perm, 0, &mut |p| best = best.min(total(p)));
        assert!((total(&got) - best).abs() < 1e-12, "n={n}: {} vs optimum {best}", total(&got));
    }
}

fn permute(p: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
    if k == p.len() {
        f(p);
        return;
    }
    for i in k..p.len() {
        p.swap(k, i);
        permute(p, k + 1, f);
        p.swap(k, i);
    }
}

#[test]
fn wasserstein_distances_have_their_known_values() {
    let mut rng = HostRng::new(4, 0);
    // A translation by t: exact W₂ = |t| on identical point clouds; sliced W₂ = |t|/√d.
    let x: Vec<f64> = (0..400).map(|_| rng.normal()).collect();
    let y: Vec<f64> = x.chunks(2).flat_map(|p| [p[0] + 0.6, p[1] - 0.8]).collect();
    assert!((metrics::w2_exact(&x, &y, 2) - 1.0).abs() < 1e-9);
    let s = metrics::w2_sliced(&x, &y, 2, 2000, &mut rng);
    assert!((s - 1.0 / 2f64.sqrt()).abs() < 0.02, "sliced W2 {s}");
    // 1-D: the optimal plan matches sorted samples.
    let a = [0.0, 3.0, 1.0];
    let b = [2.0, 5.0, 1.0];
    let want = ((1.0f64 + 1.0 + 4.0) / 3.0).sqrt();
    assert!((metrics::w2_exact(&a, &b, 1) - want).abs() < 1e-12);
}

#[test]
fn mmd_and_kl_estimates_match_closed_forms() {
    let mut rng = HostRng::new(5, 0);
    let n = 1500;
    let x: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let y: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let z: Vec<f64> = (0..n).map(|_| rng.normal() + 1.0).collect();
    // 1-D Gaussians N(0,1), N(μ,1) with RBF ℓ: MMD² = 2ℓ/√(ℓ²+2)·(1 − exp(−μ²/(2(ℓ²+2)))).
    let l = 1.0f64;
    let want = 2.0 * l / (l * l + 2.0).sqrt() * (1.0 - (-1.0 / (2.0 * (l * l + 2.0))).exp());
    assert!((metrics::mmd2(&x, &z, 1, Some(l)) - want).abs() < 0.02, "MMD² shifted");
    assert!(metrics::mmd2(&x, &y, 1, None).abs() < 0.01, "MMD² same distribution");
    // KL(N(0,1) ‖ N(1,1)) = 0.5 from samples of the first.
    let logn = |v: f64, m: f64| -0.5 * (v - m) * (v - m) - 0.5 * (2.0 * std::f64::consts::PI).ln();
    let lp: Vec<f64> = x.iter().map(|&v| logn(v, 0.0)).collect();
    let lq: Vec<f64> = x.iter().map(|&v| logn(v, 1.0)).collect();
    assert!((metrics::forward_kl(&lp, &lq) - 0.5).abs() < 0.06);
    assert!((metrics::reverse_kl(&lp, &lq) - 0.5).abs() < 0.06);
    assert!((metrics::nll(&lp) - 1.4189).abs() < 0.05, "NLL of N(0,1) = its entropy");
}

#[test]
fn mode_coverage_counts_modes_and_entropy() {
    let ring = tasks::AnalyticTask::ring().mixture(&[1.0, 1.0]);
    let mut rng = HostRng::new(6, 0);
    let full = metrics::mode_coverage(&ring.sample(4000, &mut rng), &ring);
    assert_eq!((full.modes_covered, full.modes_total), (8, 8));
    assert!(full.mode_entropy > 0.99 && full.hq_fraction > 0.95, "{full:?}");
    // Tight samples around 4 of the 8 modes: half covered, entropy ln 4 / ln 8. (At the ring's own
    // std the neighbours of a sampled mode catch ~6 % of its samples each, enough to count.)
    let half = Gmm::isotropic(vec![0.25; 4], (0..4).map(|k| ring.mean(2 * k).to_vec()).collect(), &[0.25; 4]).unwrap();
    let cov = metrics::mode_coverage(&half.sample(4000, &mut rng), &ring);
    assert_eq!(cov.modes_covered, 4);
    assert!((cov.mode_entropy - 4f64.ln() / 8f64.ln()).abs() < 0.03, "{cov:?}");
    assert!((cov.mode_kl - 2f64.ln()).abs() < 0.05, "KL to uniform over 8 of a uniform over 4 is ln 2");
    // Far-off samples are not high quality.
    let far = metrics::mode_coverage(&[30.0, 30.0, -30.0, 0.0], &ring);
    assert_eq!((far.modes_covered, far.hq_fraction), (0, 0.0));
}
