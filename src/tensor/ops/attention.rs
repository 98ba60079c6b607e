//! Causal multi-head scaled-dot-product attention.

use super::{contiguous, span};
use crate::cpu::attention::{self as cpu, AttentionShape};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::attention as k;
use crate::tensor::{by_precision, same_device, Elem, Tensor};

/// Dropout on the attention weights: probability and Philox stream.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AttnDropout {
    /// Drop probability (0: off).
    pub prob: f32,
    /// Philox key.
    pub seed: u64,
    /// Philox stream offset.
    pub offset: u64,
}

fn shape_of(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, drop: AttnDropout) -> Result<AttentionShape> {
    let s = q.shape();
    if s.len() != 3 || k.shape() != s || v.shape() != s || heads == 0 || !s[2].is_multiple_of(heads) {
        return Err(Error::shape(
            "attention",
            format!(
                "q {:?}, k {:?}, v {:?} with {heads} heads (need [batch, tokens, heads·head_dim])",
                q.shape(),
                k.shape(),
                v.shape()
            ),
        ));
    }
    if !(0.0..1.0).contains(&drop.prob) {
        return Err(Error::invalid("attention", format!("dropout probability {} outside [0, 1)", drop.prob)));
    }
    let mut a = AttentionShape::new(s[0], s[1], heads, s[2] / heads);
    a.dropout = drop.prob;
    a.seed = drop.seed;
    a.stream = drop.offset;
    Ok(a)
}

fn forward_cpu<T: Elem>(a: &AttentionShape, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
    let (qs, ks, vs) = (T::view(q), T::view(k), T::view(v));
    let mut o = vec![T::zero(); a.len()];
    let mut lse = vec![T::zero(); a.rows()];
    cpu::attention(a, &qs, &ks, &vs, &mut o, &mut lse);
    Ok((T::tensor(o, q.shape()), T::tensor(lse, &[a.batch, a.heads, a.tokens])))
}

/// Causal attention `o_i = Σ_{j≤i} softmax_j(q_i·k_j/√d)·v_j` for every head, with optional
/// dropout on the weights. Returns `(o, lse)`; `lse` (log-sum-exp of each score row) is what
/// the backward pass needs.
///
/// # Shapes
/// `q, k, v: [batch, tokens, heads·head_dim]` → `o` of the same shape, `lse: [batch, heads, tokens]`.
///
/// # Errors
/// [`Error::Shape`] for mismatched shapes or a width not divisible by `heads`; device
/// mismatch; GPU errors.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, drop: AttnDropout) -> Result<(Tensor, Tensor)> {
    let a = shape_of(q, k, v, heads, drop)?;
    match same_device("attention", &[q, k, v])? {
        Device::Gpu(g) => {
            let (q, k, v) = (contiguous(q)?, contiguous(k)?, contiguous(v)?);
            let o = Tensor::uninit(&g, q.shape())?;
            let lse = Tensor::uninit(&g, &[a.batch, a.heads, a.tokens])?;
            k::forward(&g, &a, span(&q), span(&k), span(&v), span(&o), span(&lse))?;
            Ok((o, lse))
        }
        d => by_precision!(d, forward_cpu(&a, q, k, v)),
    }
}

#[allow(clippy::too_many_arguments)]
fn backward_cpu<T: Elem>(
    a: &AttentionShape,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    o: &Tensor,
    lse: &Tensor,
    d_o: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (qs, ks, vs, os, ls, gs) = (T::view(q), T::view(k), T::view(v), T::view(o), T::view(lse), T::view(d_o));
    let (mut dq, mut dk, mut dv) = (vec![T::zero(); a.len()], vec![T::zero(); a.len()], vec![T::zero(); a.len()]);
    cpu::attention_bwd(a, &qs, &ks, &vs, &os, &ls, &gs, &mut dq, &mut dk, &mut dv);
    Ok((T::tensor(dq, q.shape()), T::tensor(dk, q.shape()), T::tensor(dv, q.shape())))
}

/// Gradients of [`attention`]: `(dq, dk, dv)` from the forward's `o`, `lse` and the output
/// gradient `d_o` (same `heads` and dropout as the forward).
///
/// # Errors
/// [`Error::Shape`] on mismatched shapes; device mismatch; GPU errors.
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    o: &Tensor,
    lse: &Tensor,
    d_o: &Tensor,
    heads: usize,
    drop: AttnDropout,
) -> Result<(Tensor, Tensor, Tensor)> {
    let a = shape_of(q, k, v, heads, drop)?;
    if o.shape() != q.shape() || d_o.shape() != q.shape() || lse.numel() != a.rows() {
        return Err(Error::shape(
            "attention_bwd",
            format!("o {:?}, d_o {:?}, lse {:?} for q {:?}", o.shape(), d_o.shape(), lse.shape(), q.shape()),
        ));
    }
    match same_device("attention_bwd", &[q, k, v, o, lse, d_o])? {
        Device::Gpu(g) => {
            let [q, k, v, o, lse, d_o] = [q, k, v, o, lse, d_o].map(contiguous);
            let (q, k, v, o, lse, d_o) = (q?, k?, v?, o?, lse?, d_o?);
            let (dq, dk, dv) =
                (Tensor::uninit(&g, q.shape())?, Tensor::uninit(&g, q.shape())?, Tensor::uninit(&g, q.shape())?);
            k::backward(
                &g,
                &a,
                span(&q),
                span(&k),
                span(&v),
                span(&o),
                span(&lse),
                span(&d_o),
                span(&dq),
                span(&dk),
                span(&dv),
            )?;
            Ok((dq, dk, dv))
        }
        d => by_precision!(d, backward_cpu(&a, q, k, v, o, lse, d_o)),
    }
}
