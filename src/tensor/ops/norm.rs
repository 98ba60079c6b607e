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

/// `(rows, n)` of a backward's inputs, checked: `dy` shaped like `x`, `stats` `2·rows` long.
fn check_bwd(x: &Tensor, gamma: &Tensor, stats: &Tensor, dy: &Tensor) -> Result<(usize, usize)> {
    let (rows, n) = check(x, gamma, None)?;
    if dy.shape() != x.shape() || stats.numel() != 2 * rows {
        return Err(Error::shape(
            "layer_norm_bwd",
            format!("x {:?}, dy {:?}, stats {:?}", x.shape(), dy.shape(), stats.shape()),
        ));
    }
    Ok((rows, n))
}

/// Gradients of [`layer_norm`]: `(dx, dgamma, dbeta)`.
///
/// # Errors
/// [`Error::Shape`] on mismatched sizes; device mismatch; GPU errors.
pub fn layer_norm_bwd(x: &Tensor, gamma: &Tensor, stats: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let (rows, n) = check_bwd(x, gamma, stats, dy)?;
    match same_device("layer_norm_bwd", &[x, gamma, stats, dy])? {
        Device::Gpu(g) => {
            let dx = Tensor::uninit(&g, x.shape())?;
            let dgb = Tensor::uninit(&g, &[2, n])?;
            let acc = k::Accumulate::default();
            k::backward(&g, rows, n, span(x), span(gamma), span(stats), span(dy), span(&dx), span(&dgb), acc)?;
            Ok((dx, dgb.view_flat(0, &[n])?, dgb.view_flat(n, &[n])?))
        }
        d => by_precision!(d, backward_cpu(x, gamma, stats, dy, rows, n)),
    }
}

/// [`layer_norm_bwd`] that adds instead of returning where it can: `dx` is added to `acc` (the
/// gradient of x gathered so far, if any) and returned; given the parameters' gradient
/// `slots` (dγ, dβ), their gradients are added there and `None` comes back for them. On the
/// GPU the input gradient adds itself in its pass when `acc` is held nowhere else, and the
/// parameter sums land in the slots directly when dβ's slot follows dγ's in one buffer;
/// otherwise the gradients are computed, then added.
///
/// # Shapes
/// As [`layer_norm_bwd`]; `acc` shaped like `x`, the slots `[n]`.
///
/// # Errors
/// As [`layer_norm_bwd`], and [`Error::Shape`] for a mismatched `acc` or slot.
#[allow(clippy::type_complexity)]
pub fn layer_norm_bwd_acc(
    x: &Tensor,
    gamma: &Tensor,
    stats: &Tensor,
    dy: &Tensor,
    acc: Option<Tensor>,
    slots: Option<(&Tensor, &Tensor)>,
) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
    let (rows, n) = check_bwd(x, gamma, stats, dy)?;
    if acc.as_ref().is_some_and(|a| a.shape() != x.shape())
        || slots.is_some_and(|(g, b)| g.shape() != [n] || b.shape() != [n])
    {
        return Err(Error::shape(
            "layer_norm_bwd_acc",
            format!(
                "x {:?}, gradient so far {:?}, slots {:?}",
                x.shape(),
                acc.as_ref().map(Tensor::shape),
                slots.map(|(g, b)| (g.shape().to_vec(), b.shape().to_vec()))
            ),
        ));
    }
    let gpu = match same_device("layer_norm_bwd_acc", &[x, gamma, stats, dy])? {
        Device::Gpu(g) => Some(g),
        _ => None,
    };
    // Slots on a GPU buffer, dβ's directly after dγ's.
    let joined = slots.filter(|(sg, sb)| {
        gpu.is_some() && std::ptr::eq(sg.buffer(), sb.buffer()) && sb.off() as usize == sg.off() as usize + n
    });
    let in_place = gpu.is_some() && acc.as_ref().is_some_and(Tensor::is_exclusive);
    // dx (already holding acc when in place) and the parameter gradients not yet in the slots.
    let (dx, rest) = match gpu.filter(|_| in_place || joined.is_some()) {
        Some(g) => {
            let dx = match &acc {
                Some(a) if in_place => a.clone(),
                _ => Tensor::uninit(&g, x.shape())?,
            };
            // [dγ; dβ]: the joined slots themselves, or a fresh pair added to them afterwards.
            let dgb = match joined {
                Some((sg, _)) => sg.clone(),
                None => Tensor::uninit(&g, &[2, n])?,
            };
            let how = k::Accumulate { dx: in_place, dgb: joined.is_some() };
            k::backward(&g, rows, n, span(x), span(gamma), span(stats), span(dy), span(&dx), span(&dgb), how)?;
            let rest = match joined {
                Some(_) => None,
                None => Some((dgb.view_flat(0, &[n])?, dgb.view_flat(n, &[n])?)),
            };
            (dx, rest)
        }
        None => {
            let (dx, dg, db) = layer_norm_bwd(x, gamma, stats, dy)?;
            (dx, Some((dg, db)))
        }
    };
    let dx = match acc {
        Some(a) if !in_place => super::binary(&a, &dx, crate::cpu::elementwise::Binary::Add)?,
        _ => dx,
    };
    finish(dx, rest, slots)
}

/// The result of [`layer_norm_bwd_acc`]: parameter gradients `dgb` not yet in the slots are
/// added there, or returned without slots.
#[allow(clippy::type_complexity)]
fn finish(
    dx: Tensor,
    dgb: Option<(Tensor, Tensor)>,
    slots: Option<(&Tensor, &Tensor)>,
) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
    let Some((dg, db)) = dgb else { return Ok((dx, None, None)) };
    match slots {
        Some((sg, sb)) => {
            super::add_into(sg, &dg)?;
            super::add_into(sb, &db)?;
            Ok((dx, None, None))
        }
        None => Ok((dx, Some(dg), Some(db))),
    }
}
