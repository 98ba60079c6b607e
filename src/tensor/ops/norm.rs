//! LayerNorm over the last dimension.

use super::span;
use crate::cpu::layer_norm as cpu;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::layer_norm as k;
use crate::tensor::{by_precision, same_device, Elem, Tensor};

fn check(x: &Tensor, gamma: &Tensor, beta: Option<&Tensor>) -> Result<(usize, usize)> {
    let n = x.last_dim();
    if x.rank() == 0 || n == 0 || gamma.shape() != [n] || beta.is_some_and(|b| b.shape() != [n]) {
        return Err(Error::shape("layer_norm", format!("x {:?} with gamma {:?}", x.shape(), gamma.shape())));
    }
    Ok((x.numel() / n, n))
}

fn forward_cpu<T: Elem>(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    rows: usize,
    n: usize,
) -> Result<(Tensor, Tensor)> {
    let (xs, gs, bs) = (T::view(x), T::view(gamma), T::view(beta));
    let mut y = vec![T::zero(); xs.len()];
    let mut stats = vec![T::zero(); 2 * rows];
    let (mean, rstd) = stats.split_at_mut(rows);
    cpu::layer_norm(&xs, &gs, &bs, eps, n, &mut y, mean, rstd);
    Ok((T::tensor(y, x.shape()), T::tensor(stats, &[2, rows])))
}

/// `(x − μ)/√(σ² + eps)·γ + β` per row. Returns `(y, stats)` with `stats = [mean; rstd]`
/// (`[2, rows]`), which the backward pass takes.
///
/// # Shapes
/// `x: [..., n]`, `gamma, beta: [n]`.
///
/// # Errors
/// [`Error::Shape`] on mismatched sizes; device mismatch; GPU errors.
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<(Tensor, Tensor)> {
    let (rows, n) = check(x, gamma, Some(beta))?;
    match same_device("layer_norm", &[x, gamma, beta])? {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, x.shape())?;
            let stats = Tensor::uninit(&g, &[2, rows])?;
            k::forward(&g, rows, n, eps, span(x), span(gamma), span(beta), span(&y), span(&stats))?;
            Ok((y, stats))
        }
        d => by_precision!(d, forward_cpu(x, gamma, beta, eps, rows, n)),
    }
}

fn backward_cpu<T: Elem>(
    x: &Tensor,
    gamma: &Tensor,
    stats: &Tensor,
    dy: &Tensor,
    rows: usize,
    n: usize,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (xs, gs, ss, dys) = (T::view(x), T::view(gamma), T::view(stats), T::view(dy));
    let (mean, rstd) = ss.split_at(rows);
    let mut dx = vec![T::zero(); xs.len()];
    let (mut dg, mut db) = (vec![T::zero(); n], vec![T::zero(); n]);
    cpu::layer_norm_bwd(&xs, &gs, mean, rstd, &dys, n, &mut dx, &mut dg, &mut db);
    Ok((T::tensor(dx, x.shape()), T::tensor(dg, &[n]), T::tensor(db, &[n])))
}

/// Gradients of [`layer_norm`]: `(dx, dgamma, dbeta)`.
///
/// # Errors
/// [`Error::Shape`] on mismatched sizes; device mismatch; GPU errors.
pub fn layer_norm_bwd(x: &Tensor, gamma: &Tensor, stats: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let (rows, n) = check(x, gamma, None)?;
    if dy.shape() != x.shape() || stats.numel() != 2 * rows {
        return Err(Error::shape(
            "layer_norm_bwd",
            format!("x {:?}, dy {:?}, stats {:?}", x.shape(), dy.shape(), stats.shape()),
        ));
    }
    match same_device("layer_norm_bwd", &[x, gamma, stats, dy])? {
        Device::Gpu(g) => {
            let dx = Tensor::uninit(&g, x.shape())?;
            let dgb = Tensor::uninit(&g, &[2, n])?;
            k::backward(&g, rows, n, span(x), span(gamma), span(stats), span(dy), span(&dx), span(&dgb))?;
            Ok((dx, dgb.view_flat(0, &[n])?, dgb.view_flat(n, &[n])?))
        }
        d => by_precision!(d, backward_cpu(x, gamma, stats, dy, rows, n)),
    }
}
