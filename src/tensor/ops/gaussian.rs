//! Gaussian-mixture ops: exact mixture scores and the fused VDD expert updates.

use super::span;
use crate::cpu::gaussian::{self as cpu, CholFill, ExpertShape, MixtureShape};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::gaussian as k;
use crate::tensor::{by_precision, same_device, Elem, Tensor};

fn expect(op: &'static str, what: &str, t: &Tensor, shape: &[usize]) -> Result<()> {
    if t.shape() != shape {
        return Err(Error::shape(op, format!("{what} is {:?}, expected {shape:?}", t.shape())));
    }
    Ok(())
}

/// The expert batch shape of means `[R, Z, d]`, checked against Cholesky factors `[R, Z, d, d]`
/// and log gates `[R, Z]` when given.
fn expert_shape(
    op: &'static str,
    mean: &Tensor,
    chol: &Tensor,
    log_g: Option<&Tensor>,
    samples: usize,
) -> Result<ExpertShape> {
    let &[rows, experts, dim] = mean.shape() else {
        return Err(Error::shape(op, format!("means are {:?}, expected [rows, experts, dim]", mean.shape())));
    };
    expect(op, "Cholesky factors", chol, &[rows, experts, dim, dim])?;
    if let Some(g) = log_g {
        expect(op, "log gates", g, &[rows, experts])?;
    }
    if dim == 0 || dim > k::MAX_DIM || experts == 0 || experts > k::MAX_EXPERTS || samples == 0 {
        return Err(Error::invalid(op, format!("{dim} dims, {experts} experts, {samples} samples")));
    }
    Ok(ExpertShape { rows, experts, samples, dim })
}

fn mixture_score_cpu<T: Elem>(s: &MixtureShape, ts: [&Tensor; 5]) -> Result<(Tensor, Tensor)> {
    let [m, c, w, x, nz] = ts.map(T::view);
    let mut score = vec![T::zero(); s.groups * s.queries * s.dim];
    let mut lp = vec![T::zero(); s.groups * s.queries];
    cpu::mixture_score(s, &m, &c, &w, &x, &nz, &mut score, &mut lp);
    Ok((T::tensor(score, &[s.groups, s.queries, s.dim]), T::tensor(lp, &[s.groups, s.queries])))
}

/// Exact score `∇ₓ log p` and log-density of query points under Gaussian mixtures at noise
/// levels `(c, v)` per query (components `N(c·m, c²S + vI)`; see [`cpu::mixture_score`]).
/// Returns `(score [G, Q, D], log_p [G, Q])`.
///
/// # Shapes
/// `means: [G, K, D]`, `covs: [G, K, D, D]`, `log_w: [G, K]`, `x: [G, Q, D]`, `noise: [G, Q, 2]`.
///
/// # Errors
/// [`Error::Shape`] on inconsistent shapes, [`Error::InvalidArgument`] above 16 dimensions;
/// device mismatch; GPU errors.
pub fn mixture_score(
    means: &Tensor,
    covs: &Tensor,
    log_w: &Tensor,
    x: &Tensor,
    noise: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let op = "mixture_score";
    let &[groups, components, dim] = means.shape() else {
        return Err(Error::shape(op, format!("means are {:?}, expected [groups, components, dim]", means.shape())));
    };
    let queries = x.shape().get(1).copied().unwrap_or(0);
    expect(op, "covariances", covs, &[groups, components, dim, dim])?;
    expect(op, "log weights", log_w, &[groups, components])?;
    expect(op, "queries", x, &[groups, queries, dim])?;
    expect(op, "noise levels", noise, &[groups, queries, 2])?;
    if dim == 0 || dim > k::MAX_DIM {
        return Err(Error::invalid(op, format!("{dim} dimensions (supported: 1..={})", k::MAX_DIM)));
    }
    let s = MixtureShape { groups, components, dim, queries };
    match same_device(op, &[means, covs, log_w, x, noise])? {
        Device::Gpu(g) => {
            let score = Tensor::uninit(&g, &[groups, queries, dim])?;
            let lp = Tensor::uninit(&g, &[groups, queries])?;
            k::mixture_score(
                &g,
                &s,
                span(means),
                span(covs),
                span(log_w),
                span(x),
                span(noise),
                span(&score),
                span(&lp),
            )?;
            Ok((score, lp))
        }
        d => by_precision!(d, mixture_score_cpu(&s, [means, covs, log_w, x, noise])),
    }
}

fn expert_sample_cpu<T: Elem>(s: &ExpertShape, mean: &Tensor, chol: &Tensor, eps: &Tensor) -> Result<Tensor> {
    let mut out = vec![T::zero(); eps.numel()];
    cpu::expert_sample(s, &T::view(mean), &T::view(chol), &T::view(eps), &mut out);
    Ok(T::tensor(out, eps.shape()))
}

/// Reparameterised samples `a[r,z,v] = μ[r,z] + L[r,z] ε[r,z,v]`, all experts in one dispatch.
///
/// # Shapes
/// `mean: [R, Z, d]`, `chol: [R, Z, d, d]`, `eps: [R, Z, V, d]` → `[R, Z, V, d]`.
///
/// # Errors
/// [`Error::Shape`] on inconsistent shapes; device mismatch; GPU errors.
pub fn expert_sample(mean: &Tensor, chol: &Tensor, eps: &Tensor) -> Result<Tensor> {
    let op = "expert_sample";
    let samples = eps.shape().get(2).copied().unwrap_or(0);
    let s = expert_shape(op, mean, chol, None, samples)?;
    expect(op, "noise", eps, &[s.rows, s.experts, samples, s.dim])?;
    match same_device(op, &[mean, chol, eps])? {
        Device::Gpu(g) => {
            let out = Tensor::uninit(&g, eps.shape())?;
            k::expert_sample(&g, &s, span(mean), span(chol), span(eps), span(&out))?;
            Ok(out)
        }
        d => by_precision!(d, expert_sample_cpu(&s, mean, chol, eps)),
    }
}

/// The gradients of the VDD expert loss (see [`cpu::expert_grad`]).
pub struct ExpertGrads {
    /// `∂loss/∂μ`, `[R, Z, d]`.
    pub d_mean: Tensor,
    /// `∂loss/∂L` (lower triangle; zero above), `[R, Z, d, d]`.
    pub d_chol: Tensor,
    /// `mean_v log q̃(z|a_{z,v})`, `[R, Z]`.
    pub log_resp: Tensor,
}

fn expert_grad_cpu<T: Elem>(s: &ExpertShape, use_resp: bool, ts: [&Tensor; 5]) -> Result<ExpertGrads> {
    let [m, l, g, e, sc] = ts.map(T::view);
    let (r, z, d) = (s.rows, s.experts, s.dim);
    let mut dm = vec![T::zero(); r * z * d];
    let mut dl = vec![T::zero(); r * z * d * d];
    let mut lr = vec![T::zero(); r * z];
    cpu::expert_grad(s, &m, &l, &g, &e, &sc, use_resp, &mut dm, &mut dl, &mut lr);
    Ok(ExpertGrads {
        d_mean: T::tensor(dm, &[r, z, d]),
        d_chol: T::tensor(dl, &[r, z, d, d]),
        log_resp: T::tensor(lr, &[r, z]),
    })
}

/// The closed-form gradient of the VDD expert loss with respect to the means and Cholesky
/// factors, for samples `μ + Lε` whose teacher scores are `score`; fused over every (state,
/// expert, sample). `use_resp = false` drops the `−log q̃` term (ablation).
///
/// # Shapes
/// `mean: [R, Z, d]`, `chol: [R, Z, d, d]`, `log_g: [R, Z]` (detached log gating),
/// `eps, score: [R, Z, V, d]`.
///
/// # Errors
/// [`Error::Shape`] on inconsistent shapes; device mismatch; GPU errors.
pub fn expert_grad(
    mean: &Tensor,
    chol: &Tensor,
    log_g: &Tensor,
    eps: &Tensor,
    score: &Tensor,
    use_resp: bool,
) -> Result<ExpertGrads> {
    let op = "expert_grad";
    let samples = eps.shape().get(2).copied().unwrap_or(0);
    let s = expert_shape(op, mean, chol, Some(log_g), samples)?;
    expect(op, "noise", eps, &[s.rows, s.experts, samples, s.dim])?;
    expect(op, "scores", score, eps.shape())?;
    match same_device(op, &[mean, chol, log_g, eps, score])? {
        Device::Gpu(g) => {
            let (r, z, d) = (s.rows, s.experts, s.dim);
            let out = ExpertGrads {
                d_mean: Tensor::uninit(&g, &[r, z, d])?,
                d_chol: Tensor::uninit(&g, &[r, z, d, d])?,
                log_resp: Tensor::uninit(&g, &[r, z])?,
            };
            let spans = k::ExpertGradOut {
                d_mean: span(&out.d_mean),
                d_chol: span(&out.d_chol),
                log_resp: span(&out.log_resp),
            };
            k::expert_grad(&g, &s, use_resp, span(mean), span(chol), span(log_g), span(eps), span(score), spans)?;
            Ok(out)
        }
        d => by_precision!(d, expert_grad_cpu(&s, use_resp, [mean, chol, log_g, eps, score])),
    }
}

fn mixture_log_prob_cpu<T: Elem>(s: &ExpertShape, ts: [&Tensor; 4]) -> Result<(Tensor, Tensor)> {
    let [m, l, g, a] = ts.map(T::view);
    let mut lq = vec![T::zero(); s.rows];
    let mut dg = vec![T::zero(); s.rows * s.experts];
    cpu::mixture_log_prob(s, &m, &l, &g, &a, &mut lq, &mut dg);
    Ok((T::tensor(lq, &[s.rows]), T::tensor(dg, &[s.rows, s.experts])))
}

/// Mixture log-density `log q(a_r|s_r)` of one action per state, and the gradient of the gating
/// cross-entropy against that action's responsibilities with respect to the log gates.
/// Returns `(log_q [R], d_log_g [R, Z])`.
///
/// # Shapes
/// `mean: [R, Z, d]`, `chol: [R, Z, d, d]`, `log_g: [R, Z]`, `actions: [R, d]`.
///
/// # Errors
/// [`Error::Shape`] on inconsistent shapes; device mismatch; GPU errors.
pub fn mixture_log_prob(mean: &Tensor, chol: &Tensor, log_g: &Tensor, actions: &Tensor) -> Result<(Tensor, Tensor)> {
    let op = "mixture_log_prob";
    let s = expert_shape(op, mean, chol, Some(log_g), 1)?;
    expect(op, "actions", actions, &[s.rows, s.dim])?;
    match same_device(op, &[mean, chol, log_g, actions])? {
        Device::Gpu(g) => {
            let lq = Tensor::uninit(&g, &[s.rows])?;
            let dg = Tensor::uninit(&g, &[s.rows, s.experts])?;
            k::mixture_log_prob(&g, &s, span(mean), span(chol), span(log_g), span(actions), span(&lq), span(&dg))?;
            Ok((lq, dg))
        }
        d => by_precision!(d, mixture_log_prob_cpu(&s, [mean, chol, log_g, actions])),
    }
}

fn mixture_nll_grad_cpu<T: Elem>(s: &ExpertShape, ts: [&Tensor; 4]) -> Result<(Tensor, Tensor, Tensor)> {
    let [m, l, g, a] = ts.map(T::view);
    let (z, d) = (s.experts, s.dim);
    let mut lq = vec![T::zero(); s.rows];
    let mut dm = vec![T::zero(); s.rows * z * d];
    let mut dl = vec![T::zero(); s.rows * z * d * d];
    cpu::mixture_nll_grad(s, &m, &l, &g, &a, &mut lq, &mut dm, &mut dl);
    Ok((T::tensor(lq, &[s.rows]), T::tensor(dm, &[s.rows, z, d]), T::tensor(dl, &[s.rows, z, d, d])))
}

/// The mixture log-density `log q(a_r|s_r)` of one data action per state and the gradient of
/// the mean negative log-likelihood `−1/R Σ_r log q(a_r|s_r)` with respect to the experts'
/// means and Cholesky factors, the gates held constant (the EM warm start's expert step).
/// Returns `(log_q [R], d_mean [R, Z, d], d_chol [R, Z, d, d])`; `d_chol` is zero above the
/// diagonal.
///
/// # Shapes
/// `mean: [R, Z, d]`, `chol: [R, Z, d, d]`, `log_g: [R, Z]`, `actions: [R, d]`.
///
/// # Errors
/// [`Error::Shape`] on inconsistent shapes; device mismatch; GPU errors.
pub fn mixture_nll_grad(
    mean: &Tensor,
    chol: &Tensor,
    log_g: &Tensor,
    actions: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let op = "mixture_nll_grad";
    let s = expert_shape(op, mean, chol, Some(log_g), 1)?;
    expect(op, "actions", actions, &[s.rows, s.dim])?;
    match same_device(op, &[mean, chol, log_g, actions])? {
        Device::Gpu(g) => {
            let (z, d) = (s.experts, s.dim);
            let lq = Tensor::uninit(&g, &[s.rows])?;
            let dm = Tensor::uninit(&g, &[s.rows, z, d])?;
            let dl = Tensor::uninit(&g, &[s.rows, z, d, d])?;
            let out = k::MixtureNllGradOut { log_q: span(&lq), d_mean: span(&dm), d_chol: span(&dl) };
            k::mixture_nll_grad(&g, &s, span(mean), span(chol), span(log_g), span(actions), out)?;
            Ok((lq, dm, dl))
        }
        d => by_precision!(d, mixture_nll_grad_cpu(&s, [mean, chol, log_g, actions])),
    }
}

/// The matrix count of raw Cholesky-head outputs `[..., k]` for `c`, checked.
fn chol_rows(op: &'static str, c: &CholFill, raw: &Tensor) -> Result<usize> {
    if c.dim == 0 || !c.shift.is_finite() || !c.floor.is_finite() {
        return Err(Error::invalid(op, format!("{c:?}: the dimension must be positive, shift and floor finite")));
    }
    if raw.shape().is_empty() || raw.last_dim() != c.slots() {
        return Err(Error::shape(op, format!("raw outputs are {:?}, expected [..., {}]", raw.shape(), c.slots())));
    }
    Ok(raw.numel() / c.slots())
}

/// `[..., d, d]` for raw outputs `[..., k]`.
fn chol_shape(c: &CholFill, raw: &Tensor) -> Vec<usize> {
    let mut shape = raw.shape()[..raw.shape().len() - 1].to_vec();
    shape.extend([c.dim, c.dim]);
    shape
}

fn chol_fill_cpu<T: Elem>(c: &CholFill, raw: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let r = T::view(raw);
    let mut out = vec![T::zero(); r.len() / c.slots() * c.dim * c.dim];
    cpu::chol_fill(c, &r, &mut out);
    Ok(T::tensor(out, shape))
}

/// Lower Cholesky factors from a head's raw outputs (see [`cpu::chol_fill`]): one pass over
/// every matrix.
///
/// # Shapes
/// `raw: [..., k]` with `k = c.slots()` → `[..., d, d]`.
///
/// # Errors
/// [`Error::Shape`] if the last dimension is not `k`; [`Error::InvalidArgument`] for `d = 0`
/// or a non-finite shift or floor; GPU errors.
pub fn chol_fill(raw: &Tensor, c: &CholFill) -> Result<Tensor> {
    let n = chol_rows("chol_fill", c, raw)?;
    let shape = chol_shape(c, raw);
    match raw.device() {
        Device::Gpu(g) => {
            let out = Tensor::uninit(&g, &shape)?;
            k::chol_fill(&g, c, n, span(raw), span(&out))?;
            Ok(out)
        }
        d => by_precision!(d, chol_fill_cpu(c, raw, &shape)),
    }
}

fn chol_fill_bwd_cpu<T: Elem>(c: &CholFill, raw: &Tensor, dl: &Tensor) -> Result<Tensor> {
    let (r, g) = (T::view(raw), T::view(dl));
    let mut out = vec![T::zero(); r.len()];
    cpu::chol_fill_bwd(c, &r, &g, &mut out);
    Ok(T::tensor(out, raw.shape()))
}

/// Gradient of [`chol_fill`] with respect to the raw outputs (see [`cpu::chol_fill_bwd`]).
///
/// # Shapes
/// `raw: [..., k]`, `dl: [..., d, d]` → `[..., k]`.
///
/// # Errors
/// As [`chol_fill`], and [`Error::Shape`] if `dl` does not match; device mismatch; GPU errors.
pub fn chol_fill_bwd(raw: &Tensor, dl: &Tensor, c: &CholFill) -> Result<Tensor> {
    let n = chol_rows("chol_fill_bwd", c, raw)?;
    if dl.shape() != chol_shape(c, raw) {
        return Err(Error::shape("chol_fill_bwd", format!("dl is {:?} for raw {:?}", dl.shape(), raw.shape())));
    }
    match same_device("chol_fill_bwd", &[raw, dl])? {
        Device::Gpu(g) => {
            let out = Tensor::uninit(&g, raw.shape())?;
            k::chol_fill_bwd(&g, c, n, span(raw), span(dl), span(&out))?;
            Ok(out)
        }
        d => by_precision!(d, chol_fill_bwd_cpu(c, raw, dl)),
    }
}
