//! Gaussian-mixture densities and scores (CPU twin of `shaders/gaussian/gmm_score.wgsl`).
//!
//! A batch holds `G` mixtures of `K` components in `D` dims (one per state) and `Q` query points
//! per mixture. Each query carries a *noise level* `(c, v)`: the query is scored under the
//! mixture whose components are `N(c·m_k, c²·S_k + v·I)` — `(1, σ²)` is the VE / EDM smoothing
//! `p_σ = p * N(0, σ²I)`, `(√ᾱ_t, 1 − ᾱ_t)` the VP / DDPM marginal, `(1, 0)` the mixture itself.
//!
//! # Shapes
//! `means: [G, K, D]`, `covs: [G, K, D, D]`, `log_w: [G, K]`, `x: [G, Q, D]`,
//! `noise: [G, Q, 2]`, outputs `score: [G, Q, D]`, `log_p: [G, Q]`.

use super::Real;

/// Sizes of a mixture batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MixtureShape {
    /// Mixtures (states).
    pub groups: usize,
    /// Components per mixture.
    pub components: usize,
    /// Dimension.
    pub dim: usize,
    /// Query points per mixture.
    pub queries: usize,
}

/// In-place Cholesky of a `d×d` SPD matrix (row-major, lower factor in the lower triangle).
/// Returns false if the matrix is not positive definite.
pub fn cholesky<T: Real>(a: &mut [T], d: usize) -> bool {
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        if !(s > T::zero()) {
            return false;
        }
        let l = s.sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut t = a[i * d + j];
            for k in 0..j {
                t -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = t / l;
        }
        for k in j + 1..d {
            a[j * d + k] = T::zero();
        }
    }
    true
}

/// `log N(x; μ, LLᵀ)` and `C⁻¹(μ − x)` for a lower Cholesky factor `l` of `C`.
fn component<T: Real>(l: &[T], mu: &[T], x: &[T], d: usize, grad: &mut [T]) -> T {
    // y = L⁻¹(x − μ)
    let mut y = [T::zero(); 16];
    for i in 0..d {
        let mut s = x[i] - mu[i];
        for k in 0..i {
            s -= l[i * d + k] * y[k];
        }
        y[i] = s / l[i * d + i];
    }
    // C⁻¹(μ − x) = −L⁻ᵀ y
    for i in (0..d).rev() {
        let mut s = -y[i];
        for k in i + 1..d {
            s -= l[k * d + i] * grad[k];
        }
        grad[i] = s / l[i * d + i];
    }
    let quad: T = y[..d].iter().map(|&v| v * v).sum();
    let logdet: T = (0..d).map(|i| l[i * d + i].ln()).sum();
    T::of(-0.5) * quad - logdet - T::of(0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln())
}

/// Score `∇ₓ log p(x)` and `log p(x)` of every query under its mixture at its noise level
/// (see the module docs). Components whose noisy covariance is not positive definite are
/// skipped (their weight is treated as zero).
///
/// # Panics
/// If `dim > 16` or a slice is shorter than the shape requires.
#[allow(clippy::too_many_arguments)]
pub fn mixture_score<T: Real>(
    s: &MixtureShape,
    means: &[T],
    covs: &[T],
    log_w: &[T],
    x: &[T],
    noise: &[T],
    score: &mut [T],
    log_p: &mut [T],
) {
    let (k, d, q) = (s.components, s.dim, s.queries);
    assert!(d <= 16, "mixture_score supports up to 16 dimensions");
    let mut c = vec![T::zero(); d * d];
    let mut mu = vec![T::zero(); d];
    let mut g = vec![T::zero(); d];
    let mut acc = vec![T::zero(); d];
    for grp in 0..s.groups {
        for qi in 0..q {
            let row = grp * q + qi;
            let xq = &x[row * d..][..d];
            let (cm, v) = (noise[row * 2], noise[row * 2 + 1]);
            let (mut m, mut sum) = (T::neg_infinity(), T::zero());
            acc.iter_mut().for_each(|a| *a = T::zero());
            for comp in 0..k {
                let base = grp * k + comp;
                for i in 0..d {
                    mu[i] = cm * means[base * d + i];
                    for j in 0..d {
                        c[i * d + j] = cm * cm * covs[base * d * d + i * d + j] + if i == j { v } else { T::zero() };
                    }
                }
                if !cholesky(&mut c, d) {
                    continue;
                }
                let lp = log_w[base] + component(&c, &mu, xq, d, &mut g);
                // Online log-sum-exp: rescale the running sums when the max grows.
                if lp > m {
                    let r = (m - lp).exp();
                    sum = sum * r + T::one();
                    acc.iter_mut().zip(&g).for_each(|(a, &gi)| *a = *a * r + gi);
                    m = lp;
                } else {
                    let e = (lp - m).exp();
                    sum += e;
                    acc.iter_mut().zip(&g).for_each(|(a, &gi)| *a += e * gi);
                }
            }
            for i in 0..d {
                score[row * d + i] = acc[i] / sum;
            }
            log_p[row] = m + sum.ln();
        }
    }
}
