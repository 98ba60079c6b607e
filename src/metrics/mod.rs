//! Distribution metrics (spec tasks_and_metrics.md §5) on flat sample arrays `[n, d]`.
//!
//! All run on the host in f64: sample sizes of a few thousand make them cheap, and exactness
//! matters more than speed here.

mod assignment;

pub use assignment::hungarian;

use crate::cpu::rng::HostRng;
use crate::tasks::Gmm;
use serde::Serialize;

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Negative log-likelihood in nats per sample: `−mean log q(y)` from the model's log-densities
/// at target samples.
pub fn nll(log_q_at_target: &[f64]) -> f64 {
    -mean(log_q_at_target)
}

/// `KL(p‖q) ≈ mean[log p(y) − log q(y)]` over target samples `y ~ p` (mode covering).
pub fn forward_kl(log_p_at_target: &[f64], log_q_at_target: &[f64]) -> f64 {
    mean(log_p_at_target) - mean(log_q_at_target)
}

/// `KL(q‖p) ≈ mean[log q(x) − log p(x)]` over model samples `x ~ q` (mode seeking).
pub fn reverse_kl(log_q_at_model: &[f64], log_p_at_model: &[f64]) -> f64 {
    mean(log_q_at_model) - mean(log_p_at_model)
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Median of the pairwise distances of the pooled samples (on at most 1000 points of each).
pub fn median_distance(x: &[f64], y: &[f64], d: usize) -> f64 {
    let pts: Vec<&[f64]> = x.chunks(d).take(1000).chain(y.chunks(d).take(1000)).collect();
    let mut dist = Vec::with_capacity(pts.len() * pts.len() / 2);
    for i in 0..pts.len() {
        for j in i + 1..pts.len() {
            dist.push(sq_dist(pts[i], pts[j]).sqrt());
        }
    }
    if dist.is_empty() {
        return 1.0;
    }
    let mid = dist.len() / 2;
    *dist.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// Unbiased MMD² with the RBF kernel `exp(−‖x−y‖²/(2ℓ²))`; `ℓ` defaults to the median
/// distance of the pooled samples.
pub fn mmd2(x: &[f64], y: &[f64], d: usize, bandwidth: Option<f64>) -> f64 {
    let l = bandwidth.unwrap_or_else(|| median_distance(x, y, d)).max(1e-12);
    let k = |a: &[f64], b: &[f64]| (-sq_dist(a, b) / (2.0 * l * l)).exp();
    let (xs, ys): (Vec<&[f64]>, Vec<&[f64]>) = (x.chunks(d).collect(), y.chunks(d).collect());
    let (n, m) = (xs.len() as f64, ys.len() as f64);
    let within = |p: &[&[f64]]| -> f64 {
        let mut s = 0.0;
        for i in 0..p.len() {
            for j in i + 1..p.len() {
                s += k(p[i], p[j]);
            }
        }
        2.0 * s
    };
    let cross: f64 = xs.iter().map(|a| ys.iter().map(|b| k(a, b)).sum::<f64>()).sum();
    within(&xs) / (n * (n - 1.0)) + within(&ys) / (m * (m - 1.0)) - 2.0 * cross / (n * m)
}

/// Exact W₂ between equal-size samples: `√(min_π (1/n) Σ ‖x_i − y_π(i)‖²)` (Hungarian, O(n³)).
///
/// # Panics
/// If the samples differ in size.
pub fn w2_exact(x: &[f64], y: &[f64], d: usize) -> f64 {
    let n = x.len() / d;
    assert_eq!(n, y.len() / d, "w2_exact needs equal sample sizes");
    let cost: Vec<f64> = x.chunks(d).flat_map(|a| y.chunks(d).map(move |b| sq_dist(a, b))).collect();
    let perm = hungarian(&cost, n);
    (perm.iter().enumerate().map(|(i, &j)| cost[i * n + j]).sum::<f64>() / n as f64).sqrt()
}

/// Sliced W₂: the root mean over `projections` random directions of the 1-D W₂² of the sorted
/// projections (equal sample sizes).
pub fn w2_sliced(x: &[f64], y: &[f64], d: usize, projections: usize, rng: &mut HostRng) -> f64 {
    let mut total = 0.0;
    for _ in 0..projections {
        let mut dir: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        dir.iter_mut().for_each(|v| *v /= norm);
        let proj = |s: &[f64]| -> Vec<f64> {
            let mut p: Vec<f64> = s.chunks(d).map(|a| a.iter().zip(&dir).map(|(u, v)| u * v).sum()).collect();
            p.sort_by(f64::total_cmp);
            p
        };
        let (px, py) = (proj(x), proj(y));
        total += px.iter().zip(&py).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / px.len() as f64;
    }
    (total / projections as f64).sqrt()
}

/// W₂ between equal-size samples: exact up to 1000 points in ≤ 2 dims, sliced (200 directions)
/// otherwise.
pub fn w2(x: &[f64], y: &[f64], d: usize, rng: &mut HostRng) -> f64 {
    if d <= 2 && x.len() / d <= 1000 {
        w2_exact(x, y, d)
    } else {
        w2_sliced(x, y, d, 200, rng)
    }
}

/// Mode coverage of samples against a mixture (VEEGAN/PacGAN convention, spec §5 item 5).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModeCoverage {
    /// Modes with at least `τ_k = max(1 % of n, ¼·n·w_k)` high-quality samples.
    pub modes_covered: usize,
    /// Number of modes.
    pub modes_total: usize,
    /// Fraction of samples within Mahalanobis distance 3 of their nearest mode.
    pub hq_fraction: f64,
    /// Entropy of the high-quality samples' mode histogram, normalised by `ln K`.
    pub mode_entropy: f64,
    /// `KL(p̂‖w)` of that histogram to the mixture weights.
    pub mode_kl: f64,
    /// The histogram of high-quality samples per mode.
    pub counts: Vec<usize>,
}

/// Assigns each sample to its nearest mode by Mahalanobis distance and summarises coverage.
pub fn mode_coverage(samples: &[f64], gmm: &Gmm) -> ModeCoverage {
    let (d, k) = (gmm.dim(), gmm.components());
    let n = samples.len() / d;
    // Precision factors: L⁻¹ for each component.
    let chols: Vec<nalgebra::DMatrix<f64>> = (0..k)
        .map(|c| {
            nalgebra::DMatrix::from_row_slice(d, d, gmm.cov(c)).cholesky().expect("mixture covariances are SPD").l()
        })
        .collect();
    let mut counts = vec![0usize; k];
    for x in samples.chunks(d) {
        let mut best = (f64::INFINITY, 0);
        for (c, l) in chols.iter().enumerate() {
            let diff = nalgebra::DVector::from_iterator(d, x.iter().zip(gmm.mean(c)).map(|(a, m)| a - m));
            let y = l.solve_lower_triangular(&diff).expect("non-singular factor");
            let dist = y.norm();
            if dist < best.0 {
                best = (dist, c);
            }
        }
        if best.0 <= 3.0 {
            counts[best.1] += 1;
        }
    }
    let hq: usize = counts.iter().sum();
    let modes_covered = counts
        .iter()
        .zip(gmm.weights())
        .filter(|(&c, &w)| c as f64 >= (0.01 * n as f64).max(0.25 * n as f64 * w))
        .count();
    let (mut h, mut kl) = (0.0, 0.0);
    for (&c, &w) in counts.iter().zip(gmm.weights()) {
        if c > 0 {
            let p = c as f64 / hq as f64;
            h -= p * p.ln();
            kl += p * (p / w.max(1e-300)).ln();
        }
    }
    ModeCoverage {
        modes_covered,
        modes_total: k,
        hq_fraction: hq as f64 / n.max(1) as f64,
        mode_entropy: if k > 1 { h / (k as f64).ln() } else { 1.0 },
        mode_kl: kl,
        counts,
    }
}

/// How well a mixture's experts sit on a target's modes (spec §5 item 6): a one-to-one
/// (Hungarian) matching of target modes to expert means.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpertMatch {
    /// Per target mode: distance from its mean to the matched expert's mean.
    pub distances: Vec<f64>,
    /// Largest of them.
    pub max_distance: f64,
    /// Modes whose matched expert mean lies within one target std (the smallest axis).
    pub modes_within_std: usize,
    /// Per target mode: matched expert's geometric-mean std over the target's (`(det Σ/det S)^(1/2d)`).
    pub std_ratios: Vec<f64>,
    /// Per target mode: the matched expert.
    pub experts: Vec<usize>,
    /// Per target mode: the total gating weight of the experts whose mean is nearest to it
    /// (Mahalanobis) — the mixture weights the student recovered.
    pub mode_weights: Vec<f64>,
}

fn det(m: &[f64], d: usize) -> f64 {
    nalgebra::DMatrix::from_row_slice(d, d, m).determinant()
}

/// Matches the modes of `gmm` to experts with gating weights `weights [Z]`, means
/// `means [Z, d]` and covariances `covs [Z, d, d]` (needs `Z ≥ K`; with fewer experts the
/// unmatched modes get distance ∞).
pub fn expert_match(weights: &[f64], means: &[f64], covs: &[f64], gmm: &Gmm) -> ExpertMatch {
    let (d, k) = (gmm.dim(), gmm.components());
    let z = means.len() / d;
    let n = z.max(k);
    // Rows: target modes (padded with free dummies); columns: experts (padded with ∞ dummies).
    let big = 1e12;
    let mut cost = vec![0.0; n * n];
    for r in 0..k {
        for c in 0..n {
            cost[r * n + c] = if c < z { sq_dist(gmm.mean(r), &means[c * d..][..d]).sqrt() } else { big };
        }
    }
    let assign = hungarian(&cost, n);
    let mut out = ExpertMatch {
        distances: Vec::new(),
        max_distance: 0.0,
        modes_within_std: 0,
        std_ratios: Vec::new(),
        experts: Vec::new(),
        mode_weights: vec![0.0; k],
    };
    for (c, w) in weights.iter().enumerate().take(z) {
        let owner = mode_coverage(&means[c * d..][..d], gmm).counts.iter().position(|&n| n > 0);
        // Means farther than 3 Mahalanobis units from every mode go to the nearest in Euclid.
        let owner = owner.unwrap_or_else(|| {
            (0..k)
                .min_by(|&a, &b| {
                    sq_dist(gmm.mean(a), &means[c * d..][..d]).total_cmp(&sq_dist(gmm.mean(b), &means[c * d..][..d]))
                })
                .unwrap_or(0)
        });
        out.mode_weights[owner] += w;
    }
    for r in 0..k {
        let c = assign[r];
        let (dist, ratio) = if c < z {
            let target = det(gmm.cov(r), d);
            (cost[r * n + c], (det(&covs[c * d * d..][..d * d], d) / target).powf(0.5 / d as f64))
        } else {
            (f64::INFINITY, f64::NAN)
        };
        let min_std = nalgebra::DMatrix::from_row_slice(d, d, gmm.cov(r)).symmetric_eigenvalues().min().sqrt();
        out.modes_within_std += usize::from(dist <= min_std);
        out.max_distance = out.max_distance.max(dist);
        out.distances.push(dist);
        out.std_ratios.push(ratio);
        out.experts.push(c);
    }
    out
}
