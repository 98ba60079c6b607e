//! Gaussian-mixture densities, scores and the VDD expert/gating updates (CPU twins of
//! `shaders/gaussian/`: `gmm_score.wgsl`, `expert_sample.wgsl`, `expert_grad.wgsl`,
//! `mixture_log_prob.wgsl`, `mixture_nll_grad.wgsl`, `chol_fill.wgsl`, `chol_fill_bwd.wgsl`).
//!
//! A batch holds `G` mixtures of `K` components in `D` dims (one per state) and `Q` query points
//! per mixture. Each query carries a *noise level* `(c, v)`: the query is scored under the
//! mixture whose components are `N(c·m_k, c²·S_k + v·I)` — `(1, σ²)` is the VE / EDM smoothing
//! `p_σ = p * N(0, σ²I)`, `(√ᾱ_t, 1 − ᾱ_t)` the VP / DDPM marginal, `(1, 0)` the mixture itself.
//!
//! # Shapes
//! `means: [G, K, D]`, `covs: [G, K, D, D]`, `log_w: [G, K]`, `x: [G, Q, D]`,
//! `noise: [G, Q, 2]`, outputs `score: [G, Q, D]`, `log_p: [G, Q]`.

use super::elementwise::Unary;
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

/// Sizes of a batch of Gaussian-mixture experts: `rows` states, `experts` Z, `samples` V per
/// expert, action dimension `dim` (≤ 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpertShape {
    /// States (batch × window positions).
    pub rows: usize,
    /// Experts Z.
    pub experts: usize,
    /// Samples V per expert.
    pub samples: usize,
    /// Action dimension d.
    pub dim: usize,
}

/// How a Cholesky head's raw outputs become lower-triangular factors ([`chol_fill`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CholFill {
    /// Matrix size d.
    pub dim: usize,
    /// Full lower triangle (`d(d+1)/2` raw values per matrix) or diagonal only (`d`).
    pub full: bool,
    /// Added to a raw diagonal value before the softplus.
    pub shift: f32,
    /// Added after the softplus: the floor of the diagonal.
    pub floor: f32,
}

impl CholFill {
    /// Raw values per matrix.
    pub fn slots(&self) -> usize {
        if self.full {
            self.dim * (self.dim + 1) / 2
        } else {
            self.dim
        }
    }

    /// The `(i, j)` entries the raw values fill, in slot order (row-major over `j ≤ i`).
    fn entries(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.dim).flat_map(move |i| (0..=i).filter(move |&j| self.full || j == i).map(move |j| (i, j)))
    }
}

/// Lower Cholesky factors from a head's raw outputs: slot `s` of a matrix fills the `s`-th
/// filled entry `(i, j)` in row-major order over `j ≤ i` (every one for a full factor, the
/// diagonal for a diagonal one); off-diagonal entries take the raw value, diagonal ones
/// `softplus(raw + shift) + floor`, and every other entry is 0.
///
/// # Shapes
/// `raw: [n, k]` with `k = c.slots()`, `out: [n, d, d]`.
pub fn chol_fill<T: Real>(c: &CholFill, raw: &[T], out: &mut [T]) {
    let (d, k) = (c.dim, c.slots());
    let (shift, floor) = (T::of(f64::from(c.shift)), T::of(f64::from(c.floor)));
    for (r, l) in raw.chunks(k).zip(out.chunks_mut(d * d)) {
        l.fill(T::zero());
        for ((i, j), &v) in c.entries().zip(r) {
            l[i * d + j] = if i == j { Unary::Softplus.f(v + shift) + floor } else { v };
        }
    }
}

/// Gradient of [`chol_fill`]: `draw[s] = dl[i, j]`, times `softplus′(raw + shift)` on the
/// diagonal; entries the raw values do not fill get no gradient.
///
/// # Shapes
/// `raw, draw: [n, k]`, `dl: [n, d, d]`.
pub fn chol_fill_bwd<T: Real>(c: &CholFill, raw: &[T], dl: &[T], draw: &mut [T]) {
    let (d, k) = (c.dim, c.slots());
    let shift = T::of(f64::from(c.shift));
    for ((r, g), dr) in raw.chunks(k).zip(dl.chunks(d * d)).zip(draw.chunks_mut(k)) {
        for (((i, j), &v), o) in c.entries().zip(r).zip(dr.iter_mut()) {
            let gi = g[i * d + j];
            *o = if i == j { gi * Unary::Softplus.df(v + shift) } else { gi };
        }
    }
}

/// Reparameterised samples `a[r,z,v] = μ[r,z] + L[r,z]·ε[r,z,v]`.
///
/// # Shapes
/// `mean: [R, Z, d]`, `chol: [R, Z, d, d]`, `eps, out: [R, Z, V, d]`.
pub fn expert_sample<T: Real>(s: &ExpertShape, mean: &[T], chol: &[T], eps: &[T], out: &mut [T]) {
    let d = s.dim;
    for rz in 0..s.rows * s.experts {
        let (mu, l) = (&mean[rz * d..][..d], &chol[rz * d * d..][..d * d]);
        for v in 0..s.samples {
            let row = (rz * s.samples + v) * d;
            for i in 0..d {
                let mut a = mu[i];
                for j in 0..=i {
                    a += l[i * d + j] * eps[row + j];
                }
                out[row + i] = a;
            }
        }
    }
}

/// The VDD expert M-step gradient (spec §2.4) in closed form, for the loss
/// `−1/(R·Z) Σ_{r,z} ḡ_z J_z`, `J_z = mean_v[score·a + log q̃(z|a)] + H[N(μ_z, L_z L_zᵀ)]`,
/// where `a = μ_z + L_z ε` and `log q̃(z|a) = log ḡ_z + log N_z(a) − logsumexp_k(log ḡ_k + log N_k(a))`
/// uses detached parameters (its gradient flows through `a` only):
/// `g = score + ∇ log N_z(a) − Σ_k q̃(k|a) ∇ log N_k(a)`, `∂/∂μ_z = −w·mean_v g`,
/// `∂/∂L_z[i,j] = −w·(mean_v g_i ε_j + δ_ij / L_ii)` (j ≤ i), `w = ḡ_z/(R·Z)`.
/// `log_resp[r,z]` receives `mean_v log q̃(z|a_{z,v})` (for monitoring).
/// `use_resp = false` drops the `log q̃` term (the ablation).
///
/// # Shapes
/// `mean: [R, Z, d]`, `chol: [R, Z, d, d]`, `log_g: [R, Z]`, `eps, score: [R, Z, V, d]`;
/// outputs `d_mean: [R, Z, d]`, `d_chol: [R, Z, d, d]`, `log_resp: [R, Z]`.
#[allow(clippy::too_many_arguments)]
pub fn expert_grad<T: Real>(
    s: &ExpertShape,
    mean: &[T],
    chol: &[T],
    log_g: &[T],
    eps: &[T],
    score: &[T],
    use_resp: bool,
    d_mean: &mut [T],
    d_chol: &mut [T],
    log_resp: &mut [T],
) {
    let (z, d, vs) = (s.experts, s.dim, s.samples);
    let w_norm = T::of(1.0 / (s.rows * z) as f64);
    let inv_v = T::of(1.0 / vs as f64);
    let mut a = vec![T::zero(); d];
    let mut grads = vec![T::zero(); z * d];
    let mut lp = vec![T::zero(); z];
    let mut g = vec![T::zero(); d];
    for r in 0..s.rows {
        for e in 0..z {
            let rz = r * z + e;
            let (mu, l) = (&mean[rz * d..][..d], &chol[rz * d * d..][..d * d]);
            let mut gm = vec![T::zero(); d];
            let mut gl = vec![T::zero(); d * d];
            let mut lr_sum = T::zero();
            for v in 0..vs {
                let row = (rz * vs + v) * d;
                let ep = &eps[row..][..d];
                for i in 0..d {
                    a[i] = mu[i] + (0..=i).map(|j| l[i * d + j] * ep[j]).sum::<T>();
                }
                let mut m = T::neg_infinity();
                for k in 0..z {
                    let rk = r * z + k;
                    lp[k] = log_g[rk]
                        + component(
                            &chol[rk * d * d..][..d * d],
                            &mean[rk * d..][..d],
                            &a,
                            d,
                            &mut grads[k * d..][..d],
                        );
                    m = m.max(lp[k]);
                }
                let lse = m + lp.iter().map(|&x| (x - m).exp()).sum::<T>().ln();
                lr_sum += lp[e] - lse;
                for i in 0..d {
                    g[i] = score[row + i];
                    if use_resp {
                        g[i] += grads[e * d + i];
                        for k in 0..z {
                            g[i] -= (lp[k] - lse).exp() * grads[k * d + i];
                        }
                    }
                }
                for i in 0..d {
                    gm[i] += g[i];
                    for j in 0..=i {
                        gl[i * d + j] += g[i] * ep[j];
                    }
                }
            }
            let w = -log_g[rz].exp() * w_norm;
            for i in 0..d {
                d_mean[rz * d + i] = w * gm[i] * inv_v;
                for j in 0..d {
                    let mut v = if j <= i { gl[i * d + j] * inv_v } else { T::zero() };
                    if i == j {
                        v += T::one() / l[i * d + i];
                    }
                    d_chol[rz * d * d + i * d + j] = w * v;
                }
            }
            log_resp[rz] = lr_sum * inv_v;
        }
    }
}

/// The joint log-densities `lp[z] = log g_z + log N_z(a_r)` of state `r`'s action and their
/// logsumexp `log q(a_r|s_r)`, which it returns; `grad[z·d..][..d]` receives `∇ₐ log N_z`.
/// The shared front of [`mixture_log_prob`] and [`mixture_nll_grad`] (GPU twin:
/// `mixture_lp` in `shaders/gaussian/mixture_common.wgsl`).
///
/// # Shapes
/// As [`mixture_log_prob`]; `lp: [Z]`, `grad: [Z, d]`.
#[allow(clippy::too_many_arguments)]
fn mixture_lp<T: Real>(
    s: &ExpertShape,
    r: usize,
    mean: &[T],
    chol: &[T],
    log_g: &[T],
    actions: &[T],
    lp: &mut [T],
    grad: &mut [T],
) -> T {
    let (z, d) = (s.experts, s.dim);
    let a = &actions[r * d..][..d];
    let mut m = T::neg_infinity();
    for k in 0..z {
        let rk = r * z + k;
        let g = &mut grad[k * d..][..d];
        lp[k] = log_g[rk] + component(&chol[rk * d * d..][..d * d], &mean[rk * d..][..d], a, d, g);
        m = m.max(lp[k]);
    }
    m + lp.iter().map(|&x| (x - m).exp()).sum::<T>().ln()
}

/// Mixture log-density of one action per state and the gradient of the gating cross-entropy
/// (spec §2.5) against the responsibilities of that action:
/// `log_q[r] = logsumexp_z(log g_z + log N_z(a_r))`, `resp_z = exp(log g_z + log N_z − log_q)`
/// (treated as constant), loss `−1/(R·Z) Σ_{r,z} resp_z log g_z`, so
/// `d_log_g[r,z] = −resp_z/(R·Z)`.
///
/// # Shapes
/// `mean: [R, Z, d]`, `chol: [R, Z, d, d]`, `log_g: [R, Z]`, `actions: [R, d]`;
/// outputs `log_q: [R]`, `d_log_g: [R, Z]`.
#[allow(clippy::too_many_arguments)]
pub fn mixture_log_prob<T: Real>(
    s: &ExpertShape,
    mean: &[T],
    chol: &[T],
    log_g: &[T],
    actions: &[T],
    log_q: &mut [T],
    d_log_g: &mut [T],
) {
    let (z, d) = (s.experts, s.dim);
    let w_norm = T::of(1.0 / (s.rows * z) as f64);
    let mut lp = vec![T::zero(); z];
    let mut grad = vec![T::zero(); z * d];
    for r in 0..s.rows {
        let lse = mixture_lp(s, r, mean, chol, log_g, actions, &mut lp, &mut grad);
        log_q[r] = lse;
        for k in 0..z {
            d_log_g[r * z + k] = -(lp[k] - lse).exp() * w_norm;
        }
    }
}

/// Gradient of the mixture negative log-likelihood of one action per state with respect to the
/// experts (the EM warm start's expert step on data actions):
/// `loss = −1/R Σ_r log Σ_z g_z N(a_r; μ_z, L_z L_zᵀ)` with the gates constant. With
/// `y = L⁻¹(a − μ)`, `w = L⁻ᵀ y` and the responsibility `ρ_z`:
/// `∂loss/∂μ_z = −ρ_z w / R`, `∂loss/∂L_z[i,j] = −ρ_z (w_i y_j − δ_ij / L_ii) / R` on the
/// lower triangle (zero above it).
///
/// # Shapes
/// `mean: [R, Z, d]`, `chol: [R, Z, d, d]`, `log_g: [R, Z]`, `actions: [R, d]`;
/// outputs `log_q: [R]`, `d_mean: [R, Z, d]`, `d_chol: [R, Z, d, d]`.
#[allow(clippy::too_many_arguments)]
pub fn mixture_nll_grad<T: Real>(
    s: &ExpertShape,
    mean: &[T],
    chol: &[T],
    log_g: &[T],
    actions: &[T],
    log_q: &mut [T],
    d_mean: &mut [T],
    d_chol: &mut [T],
) {
    let (z, d) = (s.experts, s.dim);
    let inv_r = T::of(1.0 / s.rows as f64);
    let mut lp = vec![T::zero(); z];
    let mut grad = vec![T::zero(); z * d];
    for r in 0..s.rows {
        let lse = mixture_lp(s, r, mean, chol, log_g, actions, &mut lp, &mut grad);
        log_q[r] = lse;
        for k in 0..z {
            let rk = r * z + k;
            let c = (lp[k] - lse).exp() * inv_r;
            let l = &chol[rk * d * d..][..d * d];
            // component() returns gr = ∇ₐ log N = −w, so y = Lᵀ w = −Lᵀ gr.
            let gr = &grad[k * d..][..d];
            for i in 0..d {
                d_mean[rk * d + i] = c * gr[i];
            }
            for i in 0..d {
                for j in 0..d {
                    let v = if j > i {
                        T::zero()
                    } else {
                        let y_j: T = (j..d).map(|t| -l[t * d + j] * gr[t]).sum();
                        let diag = if i == j { T::one() / l[i * d + i] } else { T::zero() };
                        c * (gr[i] * y_j + diag)
                    };
                    d_chol[rk * d * d + i * d + j] = v;
                }
            }
        }
    }
}
