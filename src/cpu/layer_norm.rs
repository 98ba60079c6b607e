//! Affine LayerNorm over the last dimension (CPU twin of `shaders/norm/layer_norm.wgsl`).
//!
//! # Shapes
//! `x, y, dy, dx: [rows, n]`; `gamma, beta, dgamma, dbeta: [n]`; `mean, rstd: [rows]`.

use super::Real;

/// `y = (x − μ)·rstd·γ + β` with `rstd = 1/√(σ² + eps)` (biased variance, as PyTorch).
/// Also writes the per-row `mean` and `rstd` that the backward pass needs.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm<T: Real>(
    x: &[T],
    gamma: &[T],
    beta: &[T],
    eps: f32,
    n: usize,
    y: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
) {
    let nf = T::of(n as f64);
    for (r, (yr, xr)) in y.chunks_exact_mut(n).zip(x.chunks_exact(n)).enumerate() {
        let mu = xr.iter().copied().sum::<T>() / nf;
        let var = xr.iter().map(|&v| (v - mu) * (v - mu)).sum::<T>() / nf;
        let rs = T::one() / (var + T::of(f64::from(eps))).sqrt();
        for (i, (yv, &xv)) in yr.iter_mut().zip(xr).enumerate() {
            *yv = (xv - mu) * rs * gamma[i] + beta[i];
        }
        mean[r] = mu;
        rstd[r] = rs;
    }
}

/// Gradients of [`layer_norm`]:
/// `dx = rstd·(g − mean(g) − x̂·mean(g·x̂))` with `g = dy·γ`, `dγ = Σ_rows dy·x̂`, `dβ = Σ_rows dy`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_bwd<T: Real>(
    x: &[T],
    gamma: &[T],
    mean: &[T],
    rstd: &[T],
    dy: &[T],
    n: usize,
    dx: &mut [T],
    dgamma: &mut [T],
    dbeta: &mut [T],
) {
    let nf = T::of(n as f64);
    dgamma.iter_mut().for_each(|v| *v = T::zero());
    dbeta.iter_mut().for_each(|v| *v = T::zero());
    for (r, ((dxr, xr), dyr)) in dx.chunks_exact_mut(n).zip(x.chunks_exact(n)).zip(dy.chunks_exact(n)).enumerate() {
        let (mu, rs) = (mean[r], rstd[r]);
        let mut sg = T::zero();
        let mut sgx = T::zero();
        for i in 0..n {
            let xh = (xr[i] - mu) * rs;
            let g = dyr[i] * gamma[i];
            sg += g;
            sgx += g * xh;
            dgamma[i] += dyr[i] * xh;
            dbeta[i] += dyr[i];
        }
        let (mg, mgx) = (sg / nf, sgx / nf);
        for i in 0..n {
            let xh = (xr[i] - mu) * rs;
            dxr[i] = rs * (dyr[i] * gamma[i] - mg - xh * mgx);
        }
    }
}
