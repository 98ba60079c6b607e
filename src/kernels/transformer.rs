//! Launcher of `shaders/transformer/`: a whole minGPT stack for inference in one dispatch.

use super::elementwise::Span;
use super::{
    grid, launch, plain_or_sg, shader, subgroups_of_8, Cost, Kernel, ENTRY_PLAIN, ENTRY_SG, LINEAR_TEXTURE, R, T, W,
};
use crate::cpu::transformer::GptPlan;
use crate::device::Gpu;
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};

const VARIANTS: &[&[(&str, u32)]] = &[
    &[("NT", 5), ("E", 72), ("H", 4), ("HD", 18)],
    &[("NT", 11), ("E", 72), ("H", 4), ("HD", 18)],
    &[("NT", 1), ("E", 8), ("H", 2), ("HD", 4)],
    &[("NT", 16), ("E", 24), ("H", 3), ("HD", 8)],
];

/// The fused stack (one workgroup per sequence), every invocation loading its activations.
pub const GPT_INFER: Kernel = Kernel {
    source: shader!("transformer/gpt_infer.wgsl"),
    includes: &[LINEAR_TEXTURE, ENTRY_PLAIN],
    entry: "main",
    storage: &[R, T, W],
    variants: VARIANTS,
};

/// The fused stack with activations shared through subgroup shuffles (subgroups of ≥ 8).
pub const GPT_INFER_SG: Kernel = Kernel { includes: &[LINEAR_TEXTURE, ENTRY_SG], entry: "main_sg", ..GPT_INFER };

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[GPT_INFER, GPT_INFER_SG];

/// Blocks the params struct has room for.
pub const MAX_LAYERS: usize = 8;
/// Tokens per sequence the register accumulators are sized for.
pub const MAX_TOKENS: usize = 16;
/// Largest head dimension (the per-head vectors live in registers).
pub const MAX_HEAD_DIM: usize = 64;
/// Sequences up to which the fused stack is used (beyond, the batched GEMMs are faster).
pub const MAX_BATCH: usize = 2;
const WG: u32 = 16;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batch: u32,
    layers: u32,
    has_pos: u32,
    pos_off: u32,
    eps: f32,
    scale: f32,
    lnf_g: u32,
    lnf_b: u32,
    has_tok: u32,
    tok_w: u32,
    tok_b: u32,
    din: u32,
    off: [[u32; 16]; MAX_LAYERS],
}

/// Workgroup memory the kernel needs for sequences of `tokens × width` (bytes).
pub fn shared_bytes(tokens: usize, width: usize) -> usize {
    4 * (6 * tokens * width + 2 * tokens)
}

/// An upper bound of the loop iterations one invocation of `gpt_infer.wgsl` runs (its rolled
/// loops: projections over k, the causal key loop, LayerNorm rows, row copies; the loops over
/// the NT tokens and HD features of a head have constant trips and unroll, but the head's are
/// counted anyway).
pub fn loop_iterations(tokens: usize, width: usize, heads: usize, layers: usize) -> usize {
    let wg = WG as usize;
    let (e4, hd) = (width / 4, width / heads.max(1));
    let row4 = tokens * e4;
    // proj(): ⌈k4/8⌉ outer steps of up to 8 inner ones, for each group of WG column groups.
    let cols = |groups: usize, k: usize| groups.div_ceil(wg) * ((k / 4).div_ceil(8) + k / 4 + 1);
    let ln = tokens.div_ceil(wg) * (2 * e4 + 1) + row4.div_ceil(wg);
    let attend = (tokens * heads).div_ceil(wg) * (tokens * (2 * hd + 2) + 3 * hd);
    let layer = 2 * ln + cols(3 * e4, width) + attend + cols(e4, width) + cols(width, width) + cols(e4, 4 * width) + 1;
    2 * row4.div_ceil(wg) + layers * layer + ln
}

/// Whether `gpu` can run the fused stack for this configuration (otherwise run the blocks op
/// by op): at most [`MAX_TOKENS`] tokens, [`MAX_LAYERS`] blocks and [`MAX_HEAD_DIM`] features
/// per head, a width that is a multiple of 4, the sequence fitting in workgroup memory, and
/// at most [`super::MAX_LOOP_ITERATIONS`] by [`loop_iterations`].
pub fn supported(gpu: &Gpu, batch: usize, tokens: usize, width: usize, heads: usize, layers: usize) -> bool {
    batch <= MAX_BATCH
        && (1..=MAX_TOKENS).contains(&tokens)
        && (1..=MAX_LAYERS).contains(&layers)
        && width.is_multiple_of(4)
        && heads > 0
        && width.is_multiple_of(heads)
        && width / heads <= MAX_HEAD_DIM
        && shared_bytes(tokens, width) <= gpu.limits().max_compute_workgroup_storage_size as usize
        && loop_iterations(tokens, width, heads, layers) <= super::MAX_LOOP_ITERATIONS
}

/// Whether every offset of `p` is a multiple of 4 (the kernel reads the parameters as vec4s).
pub fn aligned(p: &GptPlan) -> bool {
    let tok = p.tok.map(|t| [t.0, t.1]);
    p.blocks.iter().flatten().chain(&p.ln_f).chain(p.pos.iter()).chain(tok.iter().flatten()).all(|o| o % 4 == 0)
}

/// Records the stack of `p` over `x` into `y`; `w` is the flat parameter buffer the plan's
/// offsets index (every tensor at a multiple of 4 elements: the kernel reads vec4s).
///
/// # Errors
/// [`Error::InvalidArgument`] for a configuration [`supported`] rejects or offsets beyond
/// `u32`; kernel compilation or dispatch errors.
pub fn gpt_infer(gpu: &Gpu, p: &GptPlan, x: Span, w: Span, y: Span) -> Result<()> {
    gpt_infer_with(gpu, p, x, w, y, subgroups_of_8(gpu))
}

/// [`gpt_infer`] with the kernel chosen: `share` picks the subgroup kernel (activations
/// shared by shuffles), otherwise the plain one (for tests of both on one adapter).
///
/// # Errors
/// Those of [`gpt_infer`], and [`Error::InvalidArgument`] for `share` on an adapter without
/// subgroups of at least 8.
pub fn gpt_infer_with(gpu: &Gpu, p: &GptPlan, x: Span, w: Span, y: Span, share: bool) -> Result<()> {
    let kernel = plain_or_sg(gpu, "gpt_infer", share, &GPT_INFER, &GPT_INFER_SG)?;
    if !supported(gpu, p.batch, p.tokens, p.width, p.heads, p.blocks.len()) {
        return Err(Error::invalid(
            "gpt_infer",
            format!(
                "{} tokens × {} wide, {} heads, {} blocks: not supported by the fused kernel",
                p.tokens,
                p.width,
                p.heads,
                p.blocks.len()
            ),
        ));
    }
    if x.off != 0 || y.off != 0 {
        return Err(Error::invalid("gpt_infer", "x and y must start their buffers"));
    }
    if !aligned(p) || !w.off.is_multiple_of(4) {
        return Err(Error::invalid("gpt_infer", "parameter offsets must be multiples of 4"));
    }
    let at = |o: usize| -> Result<u32> {
        u32::try_from(o + w.off as usize).map_err(|_| Error::invalid("gpt_infer", "parameter offset beyond u32"))
    };
    let mut off = [[0u32; 16]; MAX_LAYERS];
    for (dst, b) in off.iter_mut().zip(&p.blocks) {
        for (d, &o) in dst.iter_mut().zip(b) {
            *d = at(o)?;
        }
    }
    let hd = p.width / p.heads;
    let params = Params {
        batch: p.batch as u32,
        layers: p.blocks.len() as u32,
        has_pos: u32::from(p.pos.is_some()),
        pos_off: at(p.pos.unwrap_or(0))?,
        eps: p.eps,
        scale: 1.0 / (hd as f32).sqrt(),
        lnf_g: at(p.ln_f[0])?,
        lnf_b: at(p.ln_f[1])?,
        has_tok: u32::from(p.tok.is_some()),
        tok_w: at(p.tok.map_or(0, |t| t.0))?,
        tok_b: at(p.tok.map_or(0, |t| t.1))?,
        din: p.tok.map_or(0, |t| t.2) as u32,
        off,
    };
    let defines = [("NT", p.tokens as u32), ("E", p.width as u32), ("H", p.heads as u32), ("HD", hd as u32)];
    let e = p.width as f64;
    let per_row = 24.0 * e * e; // 12·E² multiply-adds per row and block
    let attn = (p.batch * p.heads * p.tokens * (p.tokens + 1) / 2 * 4 * hd) as f64;
    let cost = Cost {
        flops: p.blocks.len() as f64 * ((p.batch * p.tokens) as f64 * per_row + attn),
        bytes: (8 * p.len() + 4 * p.blocks.len() * (12 * p.width * p.width + 13 * p.width)) as f64,
    };
    launch(gpu, kernel, &defines, &[("WG", f64::from(WG))], &[x.buf, w.buf, y.buf], &params, grid(p.batch as u32), cost)
}
