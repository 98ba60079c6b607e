//! minGPT-style causal transformer: self-attention with separate Q/K/V and output projections,
//! pre-LN blocks `x += Attn(LN x); x += MLP(LN x)` (GELU), learned positions, final LayerNorm.

use super::{Init, LayerNorm, Linear, LinearInit, ParamBuilder, ParamId};
use crate::autodiff::{Tape, Var};
use crate::cpu::elementwise::Unary;
use crate::cpu::transformer::GptPlan;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::transformer::{aligned, supported};
use crate::tensor::ops as t;

/// Sizes and dropout rates of a [`Gpt`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptConfig {
    /// Embedding width.
    pub width: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads (must divide `width`).
    pub heads: usize,
    /// Maximum sequence length (positional embeddings).
    pub max_tokens: usize,
    /// Dropout on the attention weights.
    pub attn_dropout: f32,
    /// Dropout on each block's residual branches.
    pub resid_dropout: f32,
    /// Dropout on the embeddings.
    pub embd_dropout: f32,
}

/// Causal multi-head self-attention.
#[derive(Clone, Debug)]
pub struct CausalSelfAttention {
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
    /// Heads.
    pub heads: usize,
    /// Attention-weight dropout.
    pub attn_dropout: f32,
    /// Output dropout.
    pub resid_dropout: f32,
}

impl CausalSelfAttention {
    /// Declares the four projections (minGPT init: N(0, 0.02), zero bias).
    pub fn new(
        pb: &mut ParamBuilder,
        name: &str,
        width: usize,
        heads: usize,
        attn_dropout: f32,
        resid_dropout: f32,
    ) -> Self {
        let init = LinearInit::Normal(0.02);
        pb.scope(name, |pb| CausalSelfAttention {
            q: Linear::new(pb, "q", width, width, init),
            k: Linear::new(pb, "k", width, width, init),
            v: Linear::new(pb, "v", width, width, init),
            o: Linear::new(pb, "o", width, width, init),
            heads,
            attn_dropout,
            resid_dropout,
        })
    }

    /// Attends over `x: [batch, tokens, width]`.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        let (q, k, v) = (self.q.forward(tape, x)?, self.k.forward(tape, x)?, self.v.forward(tape, x)?);
        let y = tape.attention(&q, &k, &v, self.heads, self.attn_dropout)?;
        let y = self.o.forward(tape, &y)?;
        tape.dropout(&y, self.resid_dropout)
    }
}

/// Pre-LN transformer block.
#[derive(Clone, Debug)]
pub struct Block {
    /// LayerNorm before attention.
    pub ln1: LayerNorm,
    /// Attention.
    pub attn: CausalSelfAttention,
    /// LayerNorm before the MLP.
    pub ln2: LayerNorm,
    /// MLP up-projection (width → 4·width).
    pub up: Linear,
    /// MLP down-projection.
    pub down: Linear,
    /// Dropout after the MLP.
    pub resid_dropout: f32,
}

impl Block {
    /// Declares a block.
    pub fn new(pb: &mut ParamBuilder, name: &str, cfg: &GptConfig) -> Self {
        let init = LinearInit::Normal(0.02);
        pb.scope(name, |pb| Block {
            ln1: LayerNorm::new(pb, "ln1", cfg.width),
            attn: CausalSelfAttention::new(pb, "attn", cfg.width, cfg.heads, cfg.attn_dropout, cfg.resid_dropout),
            ln2: LayerNorm::new(pb, "ln2", cfg.width),
            up: Linear::new(pb, "up", cfg.width, 4 * cfg.width, init),
            down: Linear::new(pb, "down", 4 * cfg.width, cfg.width, init),
            resid_dropout: cfg.resid_dropout,
        })
    }

    /// `x + Attn(LN1 x)`, then `+ MLP(LN2 ·)`.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        let h = self.ln1.forward(tape, x)?;
        let x = tape.add(x, &self.attn.forward(tape, &h)?)?;
        let h = self.ln2.forward(tape, &x)?;
        let h = self.up.forward_act(tape, &h, Unary::Gelu)?;
        let h = self.down.forward(tape, &h)?;
        let h = tape.dropout(&h, self.resid_dropout)?;
        tape.add(&x, &h)
    }
}

/// The transformer stack over token embeddings: positions, dropout, blocks, final LayerNorm.
#[derive(Clone, Debug)]
pub struct Gpt {
    /// Learned positional embeddings `[max_tokens, width]` (N(0, 0.02)).
    pub pos: ParamId,
    /// The blocks.
    pub blocks: Vec<Block>,
    /// Final LayerNorm.
    pub ln_f: LayerNorm,
    /// The configuration.
    pub cfg: GptConfig,
}

impl Gpt {
    /// Declares the stack.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `heads` does not divide `width`.
    pub fn new(pb: &mut ParamBuilder, name: &str, cfg: GptConfig) -> Result<Self> {
        if cfg.heads == 0 || !cfg.width.is_multiple_of(cfg.heads) {
            return Err(Error::invalid("gpt", format!("{} heads do not divide width {}", cfg.heads, cfg.width)));
        }
        Ok(pb.scope(name, |pb| Gpt {
            pos: pb.add("pos", &[cfg.max_tokens, cfg.width], Init::Normal(0.02)),
            blocks: (0..cfg.layers).map(|i| Block::new(pb, &format!("block{i}"), &cfg)).collect(),
            ln_f: LayerNorm::new(pb, "ln_f", cfg.width),
            cfg,
        }))
    }

    /// Runs the stack over token embeddings `[batch, tokens, width]` (tokens ≤ max_tokens).
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong width or too many tokens.
    pub fn forward(&self, tape: &Tape, tokens: &Var) -> Result<Var> {
        let s = tokens.shape();
        if s.len() != 3 || s[2] != self.cfg.width || s[1] > self.cfg.max_tokens {
            return Err(Error::shape(
                "gpt",
                format!("tokens {s:?} for width {} and at most {} tokens", self.cfg.width, self.cfg.max_tokens),
            ));
        }
        if let Some(y) = self.fused(tape, tokens, true)? {
            return Ok(y);
        }
        let x = tape.add(tokens, &self.positions(tape, s[1])?)?;
        self.forward_embedded(tape, &x)
    }

    /// [`Gpt::forward`] over `tok(x)`: raw per-token inputs `[batch, tokens, din]` through the
    /// token projection `tok` (`Linear(din, width)`), in the same single dispatch as the stack
    /// when [`Gpt::forward`] would fuse.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward_tokens(&self, tape: &Tape, tok: &Linear, x: &Var) -> Result<Var> {
        if let Some(y) = self.fused_from(tape, Some(tok), x, true)? {
            return Ok(y);
        }
        self.forward(tape, &tok.forward(tape, x)?)
    }

    /// The first `t` learned positional embeddings `[t, width]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `t` exceeds `max_tokens`.
    pub fn positions(&self, tape: &Tape, t: usize) -> Result<Var> {
        let pos = tape.param(self.pos);
        if t == self.cfg.max_tokens {
            Ok(pos)
        } else {
            tape.slice(&pos, 0, 0, t)
        }
    }

    /// Runs embedding dropout, the blocks and the final LayerNorm over tokens that already carry
    /// their positions (e.g. sequences whose tokens share positions, as in DiffusionGPT).
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward_embedded(&self, tape: &Tape, x: &Var) -> Result<Var> {
        if let Some(y) = self.fused(tape, x, false)? {
            return Ok(y);
        }
        let mut x = tape.dropout(x, self.cfg.embd_dropout)?;
        for b in &self.blocks {
            x = b.forward(tape, &x)?;
        }
        self.ln_f.forward(tape, &x)
    }

    /// The whole stack in one GPU dispatch ([`t::gpt_infer`]) when nothing is differentiated,
    /// no dropout is active and the fused kernel supports the shape; `None` otherwise (the
    /// caller runs the blocks op by op). `with_pos` adds the positional embeddings first.
    fn fused(&self, tape: &Tape, x: &Var, with_pos: bool) -> Result<Option<Var>> {
        self.fused_from(tape, None, x, with_pos)
    }

    /// [`Gpt::fused`] with an optional token projection `tok` applied to `x` first.
    fn fused_from(&self, tape: &Tape, tok: Option<&Linear>, x: &Var, with_pos: bool) -> Result<Option<Var>> {
        let s = x.shape();
        let Device::Gpu(gpu) = tape.device() else {
            return Ok(None);
        };
        let c = &self.cfg;
        let dropout = c.attn_dropout.max(c.resid_dropout).max(c.embd_dropout);
        let din = tok.map_or(c.width, |l| l.fan_in);
        if s.len() != 3
            || s[2] != din
            || (with_pos && s[1] > c.max_tokens)
            || tok.is_some_and(|l| l.fan_out != c.width || l.b.is_none())
            || x.requires_grad()
            || tape.param(self.pos).requires_grad()
            || (tape.training() && dropout > 0.0)
            || !supported(&gpu, s[0], s[1], c.width, c.heads, self.blocks.len())
            || !gpu.mirror_fits(tape.store().flat().buffer())
        {
            return Ok(None);
        }
        let store = tape.store();
        let off = |id: ParamId| store.entries()[id.0].offset;
        let lin = |l: &Linear| l.b.map(|b| [off(l.w), off(b)]);
        let norms = self.blocks.iter().flat_map(|b| [&b.ln1, &b.ln2]).chain([&self.ln_f]);
        if norms.clone().any(|n| n.eps != self.ln_f.eps) {
            return Ok(None);
        }
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            let a = &b.attn;
            let (Some(q), Some(k), Some(v), Some(o), Some(up), Some(down)) =
                (lin(&a.q), lin(&a.k), lin(&a.v), lin(&a.o), lin(&b.up), lin(&b.down))
            else {
                return Ok(None);
            };
            let (l1, l2) = ([off(b.ln1.gamma), off(b.ln1.beta)], [off(b.ln2.gamma), off(b.ln2.beta)]);
            blocks.push([l1, q, k, v, o, l2, up, down].concat().try_into().expect("16 offsets"));
        }
        let plan = GptPlan {
            batch: s[0],
            tokens: s[1],
            width: c.width,
            heads: c.heads,
            eps: self.ln_f.eps,
            tok: tok.and_then(lin).map(|[w, b]| (w, b, din)),
            pos: with_pos.then(|| off(self.pos)),
            blocks,
            ln_f: [off(self.ln_f.gamma), off(self.ln_f.beta)],
        };
        if !aligned(&plan) || !store.flat().offset().is_multiple_of(4) {
            return Ok(None);
        }
        Ok(Some(tape.constant(t::gpt_infer(x.value(), store.flat(), &plan)?)))
    }
}
