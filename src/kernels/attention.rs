//! Launchers of `shaders/attention/`: causal multi-head attention, forward and backward.

use super::elementwise::Span;
use super::rng::PHILOX;
use super::{grid_for, launch, shader, Cost, Kernel, Source, R, W};
use crate::cpu::attention::AttentionShape;
use crate::cpu::rng;
use crate::device::Gpu;
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

const COMMON: Source = shader!("attention/attention_common.wgsl");
const HD_VARIANTS: [&[(&str, u32)]; 3] = [&[("HD", 18)], &[("HD", 1)], &[("HD", 64)]];

/// Forward: o and lse.
pub const ATTENTION: Kernel = Kernel {
    source: shader!("attention/attention.wgsl"),
    includes: &[PHILOX, COMMON],
    entry: "main",
    storage: &[R, R, R, W, W],
    variants: &HD_VARIANTS,
};
/// Backward, query side: dq and delta.
pub const ATTENTION_BWD_Q: Kernel = Kernel {
    source: shader!("attention/attention_bwd_q.wgsl"),
    includes: &[PHILOX, COMMON],
    entry: "main",
    storage: &[R, R, R, R, R, R, W, W],
    variants: &HD_VARIANTS,
};
/// Backward, key side: dk and dv.
pub const ATTENTION_BWD_KV: Kernel = Kernel {
    source: shader!("attention/attention_bwd_kv.wgsl"),
    includes: &[PHILOX, COMMON],
    entry: "main",
    storage: &[R, R, R, R, R, R, W, W],
    variants: &HD_VARIANTS,
};

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[ATTENTION, ATTENTION_BWD_Q, ATTENTION_BWD_KV];

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batch: u32,
    tokens: u32,
    heads: u32,
    scale: f32,
    prob: f32,
    pad0: u32,
    key: [u32; 2],
    offset: [u32; 2],
    pad1: [u32; 2],
}

fn params(s: &AttentionShape) -> Params {
    Params {
        batch: s.batch as u32,
        tokens: s.tokens as u32,
        heads: s.heads as u32,
        scale: s.scale,
        prob: s.dropout,
        pad0: 0,
        key: rng::key(s.seed),
        offset: [s.stream as u32, (s.stream >> 32) as u32],
        pad1: [0; 2],
    }
}

/// Scores, softmax and weighted sum over the causal triangle; `passes` arrays of the q/k/v size.
fn attn_cost(s: &AttentionShape, passes: usize) -> Cost {
    let pairs = (s.batch * s.heads * s.tokens * (s.tokens + 1) / 2) as f64;
    Cost {
        flops: pairs * (4 * s.head_dim) as f64 * (passes as f64 / 4.0).max(1.0),
        bytes: (4 * passes * s.len()) as f64,
    }
}

fn hd(s: &AttentionShape) -> [(&'static str, u32); 1] {
    [("HD", s.head_dim as u32)]
}

/// Records the forward pass into `o` and `lse`. All views must start at offset 0 of their
/// buffers' tensors (the kernels index from 0).
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn forward(gpu: &Gpu, s: &AttentionShape, q: Span, k: Span, v: Span, o: Span, lse: Span) -> Result<()> {
    launch(
        gpu,
        &ATTENTION,
        &hd(s),
        &[],
        &[q.buf, k.buf, v.buf, o.buf, lse.buf],
        &params(s),
        grid_for(s.rows(), 64),
        attn_cost(s, 4),
    )
}

/// Records the backward pass into `dq`, `dk`, `dv` (`delta` is scratch of `s.rows()`).
///
/// # Errors
/// Allocation, kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    gpu: &Gpu,
    s: &AttentionShape,
    q: Span,
    k: Span,
    v: Span,
    o: Span,
    lse: Span,
    d_o: Span,
    dq: Span,
    dk: Span,
    dv: Span,
) -> Result<()> {
    let delta = gpu.alloc((s.rows() * 4) as u64)?;
    let p = params(s);
    let groups = grid_for(s.rows(), 64);
    launch(
        gpu,
        &ATTENTION_BWD_Q,
        &hd(s),
        &[],
        &[q.buf, k.buf, v.buf, o.buf, lse.buf, d_o.buf, dq.buf, &delta],
        &p,
        groups,
        attn_cost(s, 6),
    )?;
    launch(
        gpu,
        &ATTENTION_BWD_KV,
        &hd(s),
        &[],
        &[q.buf, k.buf, v.buf, lse.buf, &delta, d_o.buf, dk.buf, dv.buf],
        &p,
        groups,
        attn_cost(s, 6),
    )
}
