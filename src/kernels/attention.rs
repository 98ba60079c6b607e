//! Launchers of `shaders/attention/`: causal multi-head attention, forward and backward.

use super::elementwise::Span;
use super::rng::PHILOX;
use super::{grid_for, launch, shader, Cost, Kernel, Source, R, W, WIDTHS};
use crate::cpu::attention::AttentionShape;
use crate::cpu::rng;
use crate::device::Gpu;
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

const COMMON: Source = shader!("attention/attention_common.wgsl");
const FORWARD: Source = shader!("attention/attention.wgsl");
const BWD_Q: Source = shader!("attention/attention_bwd_q.wgsl");
const BWD_KV: Source = shader!("attention/attention_bwd_kv.wgsl");
const SEQ: Source = shader!("attention/attention_seq.wgsl");
const SEQ_BWD: Source = shader!("attention/attention_seq_bwd.wgsl");
const HD_VARIANTS: [&[&[(&str, u32)]]; 3] = [
    &[&[("HD", 18), ("VW", 1)], &[("HD", 1), ("VW", 1)], &[("HD", 64), ("VW", 1)]],
    &[&[("HD", 18), ("VW", 2)], &[("HD", 2), ("VW", 2)]],
    &[&[("HD", 64), ("VW", 4)], &[("HD", 16), ("VW", 4)]],
];

const SEQ_VARIANTS: [&[&[(&str, u32)]]; 3] = [
    &[&[("HD", 3), ("VW", 1), ("NT", 16)], &[("HD", 1), ("VW", 1), ("NT", 1)]],
    &[&[("HD", 18), ("VW", 2), ("NT", 5)], &[("HD", 18), ("VW", 2), ("NT", 11)]],
    &[&[("HD", 8), ("VW", 4), ("NT", 3)], &[("HD", 16), ("VW", 4), ("NT", 16)]],
];

const INCLUDES: [&[Source]; 3] =
    [&[PHILOX, WIDTHS[0], COMMON], &[PHILOX, WIDTHS[1], COMMON], &[PHILOX, WIDTHS[2], COMMON]];

type Variants = [&'static [&'static [(&'static str, u32)]]; 3];

const fn width_kernel(source: Source, storage: &'static [crate::device::Access], v: Variants, w: usize) -> Kernel {
    Kernel { source, includes: INCLUDES[w], entry: "main", storage, variants: v[w] }
}

const fn family(source: Source, storage: &'static [crate::device::Access], v: Variants) -> [Kernel; 3] {
    [width_kernel(source, storage, v, 0), width_kernel(source, storage, v, 1), width_kernel(source, storage, v, 2)]
}

/// Forward: o and lse (one kernel per load width, see [`width_index`]).
pub const ATTENTION: [Kernel; 3] = family(FORWARD, &[R, R, R, W, W], HD_VARIANTS);
/// Backward, query side: dq and delta.
pub const ATTENTION_BWD_Q: [Kernel; 3] = family(BWD_Q, &[R, R, R, R, R, R, W, W], HD_VARIANTS);
/// Backward, key side: dk and dv.
pub const ATTENTION_BWD_KV: [Kernel; 3] = family(BWD_KV, &[R, R, R, R, R, R, W, W], HD_VARIANTS);
/// Forward of short sequences ([`short`]): one invocation per (sequence, head).
pub const ATTENTION_SEQ: [Kernel; 3] = family(SEQ, &[R, R, R, W, W], SEQ_VARIANTS);
/// Backward of short sequences: dq, dk and dv in one pass per (sequence, head).
pub const ATTENTION_SEQ_BWD: [Kernel; 3] = family(SEQ_BWD, &[R, R, R, R, R, R, W, W, W], SEQ_VARIANTS);

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[
    ATTENTION[0],
    ATTENTION[1],
    ATTENTION[2],
    ATTENTION_BWD_Q[0],
    ATTENTION_BWD_Q[1],
    ATTENTION_BWD_Q[2],
    ATTENTION_BWD_KV[0],
    ATTENTION_BWD_KV[1],
    ATTENTION_BWD_KV[2],
    ATTENTION_SEQ[0],
    ATTENTION_SEQ[1],
    ATTENTION_SEQ[2],
    ATTENTION_SEQ_BWD[0],
    ATTENTION_SEQ_BWD[1],
    ATTENTION_SEQ_BWD[2],
];

/// Most tokens of a short sequence: the backward kernel runs one guarded `query` call per
/// query token, sixteen of them (see `attention_seq_bwd.wgsl`).
pub const SEQ_MAX_TOKENS: usize = 16;

/// Whether a shape runs the short-sequence kernels: every token's head vectors of one
/// (sequence, head) fit in registers (tokens · head dim ≤ 256, at most [`SEQ_MAX_TOKENS`]
/// tokens), so keys and values are loaded once per head instead of once per later query.
pub fn short(s: &AttentionShape) -> bool {
    s.tokens <= SEQ_MAX_TOKENS && s.tokens * s.head_dim <= 256
}

/// Index into the kernel families of the widest load (4, 2 or 1 floats) dividing the head
/// dim: per-lane loads dominate these kernels on CPU-like adapters.
pub fn width_index(head_dim: usize) -> usize {
    if head_dim.is_multiple_of(4) {
        2
    } else if head_dim.is_multiple_of(2) {
        1
    } else {
        0
    }
}

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

/// The defines of a launch: the head dim and the load width, which also tells the width
/// variants apart in the pipeline cache (its key is the file, entry and defines).
fn hd(s: &AttentionShape) -> [(&'static str, u32); 2] {
    [("HD", s.head_dim as u32), ("VW", [1, 2, 4][width_index(s.head_dim)])]
}

/// The defines of the short-sequence kernels: [`hd`] and the token count.
fn seq_defines(s: &AttentionShape) -> [(&'static str, u32); 3] {
    let [a, b] = hd(s);
    [a, b, ("NT", s.tokens as u32)]
}

/// Records the forward pass into `o` and `lse`. All views must start at offset 0 of their
/// buffers' tensors (the kernels index from 0).
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn forward(gpu: &Gpu, s: &AttentionShape, q: Span, k: Span, v: Span, o: Span, lse: Span) -> Result<()> {
    if short(s) {
        return launch(
            gpu,
            &ATTENTION_SEQ[width_index(s.head_dim)],
            &seq_defines(s),
            &[],
            &[q.buf, k.buf, v.buf, o.buf, lse.buf],
            &params(s),
            grid_for(s.batch * s.heads, 64),
            attn_cost(s, 4),
        );
    }
    launch(
        gpu,
        &ATTENTION[width_index(s.head_dim)],
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
    if short(s) {
        return launch(
            gpu,
            &ATTENTION_SEQ_BWD[width_index(s.head_dim)],
            &seq_defines(s),
            &[],
            &[q.buf, k.buf, v.buf, o.buf, lse.buf, d_o.buf, dq.buf, dk.buf, dv.buf],
            &params(s),
            grid_for(s.batch * s.heads, 64),
            attn_cost(s, 8),
        );
    }
    let delta = gpu.alloc((s.rows() * 4) as u64)?;
    let p = params(s);
    let groups = grid_for(s.rows(), 64);
    launch(
        gpu,
        &ATTENTION_BWD_Q[width_index(s.head_dim)],
        &hd(s),
        &[],
        &[q.buf, k.buf, v.buf, o.buf, lse.buf, d_o.buf, dq.buf, &delta],
        &p,
        groups,
        attn_cost(s, 6),
    )?;
    launch(
        gpu,
        &ATTENTION_BWD_KV[width_index(s.head_dim)],
        &hd(s),
        &[],
        &[q.buf, k.buf, v.buf, lse.buf, &delta, d_o.buf, dk.buf, dv.buf],
        &p,
        groups,
        attn_cost(s, 6),
    )
}
