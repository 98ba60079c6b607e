//! A whole minGPT stack for inference (CPU twin of `shaders/transformer/gpt_infer.wgsl`):
//! an optional token projection, optional positions, pre-LN blocks `x += Attn(LN1 x); x += MLP(LN2 x)` with causal attention
//! and exact GELU, then the final LayerNorm — composed from the other twins, over a model's
//! flat parameter buffer.
//!
//! # Shapes
//! `x: [batch, tokens, width]` (or `[batch, tokens, din]` with a token projection),
//! `y: [batch, tokens, width]`; `w`: the flat parameter buffer, every tensor found by its
//! element offset in the [`GptPlan`] (weights `[in, out]`, MLP hidden `4·width`).

use super::attention::{attention, AttentionShape};
use super::elementwise::Unary;
use super::gemm::{gemm, GemmShape};
use super::layer_norm::layer_norm;
use super::Real;

/// Offsets of one block's tensors in the flat buffer, in the kernel's order:
/// ln1 γ, ln1 β, Wq, bq, Wk, bk, Wv, bv, Wo, bo, ln2 γ, ln2 β, Wu, bu, Wd, bd.
pub type BlockOffsets = [usize; 16];

/// Sizes of one inference call and where the parameters are.
#[derive(Clone, Debug, PartialEq)]
pub struct GptPlan {
    /// Sequences.
    pub batch: usize,
    /// Tokens per sequence.
    pub tokens: usize,
    /// Embedding width.
    pub width: usize,
    /// Attention heads (divide `width`).
    pub heads: usize,
    /// LayerNorm epsilon (shared by every LayerNorm of the stack).
    pub eps: f32,
    /// Token projection `x·W + b` applied first, if any: offsets of `W: [din, width]` and
    /// `b: [width]`, and `din`.
    pub tok: Option<(usize, usize, usize)>,
    /// Offset of the positional embeddings `[≥ tokens, width]` to add, if any.
    pub pos: Option<usize>,
    /// Each block's offsets.
    pub blocks: Vec<BlockOffsets>,
    /// Offsets of the final LayerNorm's γ and β.
    pub ln_f: [usize; 2],
}

impl GptPlan {
    /// Elements of `y`.
    pub fn len(&self) -> usize {
        self.batch * self.tokens * self.width
    }

    /// Elements of `x`.
    pub fn in_len(&self) -> usize {
        self.batch * self.tokens * self.tok.map_or(self.width, |t| t.2)
    }

    /// Whether there is nothing to compute.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[allow(clippy::too_many_arguments)]
fn linear<T: Real>(rows: usize, k: usize, n: usize, x: &[T], w: &[T], wo: usize, bo: usize, y: &mut [T]) {
    gemm(&GemmShape::new(rows, n, k), x, &w[wo..wo + k * n], Some(&w[bo..bo + n]), y);
}

fn norm<T: Real>(p: &GptPlan, x: &[T], w: &[T], g: usize, b: usize, y: &mut [T]) {
    let (rows, n) = (p.batch * p.tokens, p.width);
    let (mut mean, mut rstd) = (vec![T::zero(); rows], vec![T::zero(); rows]);
    layer_norm(x, &w[g..g + n], &w[b..b + n], p.eps, n, y, &mut mean, &mut rstd);
}

/// Runs the stack of `p` over `x` into `y`.
pub fn gpt_infer<T: Real>(p: &GptPlan, x: &[T], w: &[T], y: &mut [T]) {
    let (rows, e) = (p.batch * p.tokens, p.width);
    let mut xs = match p.tok {
        Some((tw, tb, din)) => {
            let mut xs = vec![T::zero(); rows * e];
            linear(rows, din, e, &x[..p.in_len()], w, tw, tb, &mut xs);
            xs
        }
        None => x[..p.len()].to_vec(),
    };
    if let Some(pos) = p.pos {
        for (i, v) in xs.iter_mut().enumerate() {
            *v += w[pos + i % (p.tokens * e)];
        }
    }
    let mut h = vec![T::zero(); rows * e];
    let (mut q, mut k, mut v, mut o, mut t) = (h.clone(), h.clone(), h.clone(), h.clone(), h.clone());
    let mut u = vec![T::zero(); rows * 4 * e];
    let mut lse = vec![T::zero(); rows * p.heads];
    let a = AttentionShape::new(p.batch, p.tokens, p.heads, e / p.heads);
    for b in &p.blocks {
        norm(p, &xs, w, b[0], b[1], &mut h);
        linear(rows, e, e, &h, w, b[2], b[3], &mut q);
        linear(rows, e, e, &h, w, b[4], b[5], &mut k);
        linear(rows, e, e, &h, w, b[6], b[7], &mut v);
        attention(&a, &q, &k, &v, &mut o, &mut lse);
        linear(rows, e, e, &o, w, b[8], b[9], &mut t);
        xs.iter_mut().zip(&t).for_each(|(x, d)| *x += *d);
        norm(p, &xs, w, b[10], b[11], &mut h);
        linear(rows, e, 4 * e, &h, w, b[12], b[13], &mut u);
        u.iter_mut().for_each(|x| *x = Unary::Gelu.f(*x));
        linear(rows, 4 * e, e, &u, w, b[14], b[15], &mut t);
        xs.iter_mut().zip(&t).for_each(|(x, d)| *x += *d);
    }
    norm(p, &xs, w, p.ln_f[0], p.ln_f[1], &mut y[..p.len()]);
}
