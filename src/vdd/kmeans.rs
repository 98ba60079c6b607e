//! k-means++ on data actions: the default initialisation of the experts' means, so every
//! well-separated mode of the data starts with an expert on it (the reference's uniform
//! initialisation near the origin leaves far modes uncovered).

use crate::cpu::rng::HostRng;

fn sq(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// `k` centres of the points `x: [n, d]` (k-means++ seeding, then Lloyd iterations until no
/// assignment changes or `iters` is reached), flat `[k, d]`, plus their inertia (sum of squared
/// distances). A centre that loses all its points is re-seeded at the point farthest from its
/// centre, so `k` distinct centres come back whenever there are `k` distinct points.
///
/// # Panics
/// If `x` holds fewer than one point or `k == 0`.
pub fn kmeans(x: &[f64], d: usize, k: usize, iters: usize, rng: &mut HostRng) -> (Vec<f64>, f64) {
    let pts: Vec<&[f64]> = x.chunks(d).collect();
    assert!(!pts.is_empty() && k > 0, "k-means needs points and k > 0");
    let mut c: Vec<f64> = pts[rng.below(pts.len())].to_vec();
    let mut dist: Vec<f64> = pts.iter().map(|p| sq(p, &c[..d])).collect();
    for _ in 1..k {
        let total: f64 = dist.iter().sum();
        let pick = if total > 0.0 { rng.categorical(&dist) } else { rng.below(pts.len()) };
        c.extend_from_slice(pts[pick]);
        let new = &c[c.len() - d..];
        dist.iter_mut().zip(&pts).for_each(|(dv, p)| *dv = dv.min(sq(p, new)));
    }
    let mut assign = vec![usize::MAX; pts.len()];
    for _ in 0..iters {
        let mut changed = false;
        for (i, p) in pts.iter().enumerate() {
            let best = (0..k).min_by(|&a, &b| sq(p, &c[a * d..][..d]).total_cmp(&sq(p, &c[b * d..][..d]))).unwrap_or(0);
            changed |= assign[i] != best;
            assign[i] = best;
        }
        if !changed {
            break;
        }
        let mut sum = vec![0.0; k * d];
        let mut count = vec![0usize; k];
        for (p, &a) in pts.iter().zip(&assign) {
            count[a] += 1;
            sum[a * d..][..d].iter_mut().zip(*p).for_each(|(s, v)| *s += v);
        }
        for j in 0..k {
            if count[j] > 0 {
                for t in 0..d {
                    c[j * d + t] = sum[j * d + t] / count[j] as f64;
                }
            } else {
                let far = (0..pts.len())
                    .max_by(|&a, &b| {
                        sq(pts[a], &c[assign[a] * d..][..d]).total_cmp(&sq(pts[b], &c[assign[b] * d..][..d]))
                    })
                    .unwrap_or(0);
                c[j * d..][..d].copy_from_slice(pts[far]);
            }
        }
    }
    let inertia = pts.iter().map(|p| (0..k).map(|j| sq(p, &c[j * d..][..d])).fold(f64::INFINITY, f64::min)).sum();
    (c, inertia)
}

/// The best of `restarts` k-means runs by inertia.
pub fn kmeans_best(x: &[f64], d: usize, k: usize, restarts: usize, rng: &mut HostRng) -> Vec<f64> {
    (0..restarts.max(1))
        .map(|_| kmeans(x, d, k, 50, rng))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|r| r.0)
        .unwrap_or_default()
}
