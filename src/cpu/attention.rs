//! Causal multi-head scaled-dot-product attention for short sequences, with optional
//! dropout on the attention probabilities (CPU twin of `shaders/attention/`).
//!
//! # Shapes
//! `q, k, v, o: [batch, tokens, heads·head_dim]` (heads side by side, as a Linear produces
//! them); `lse: [batch, heads, tokens]` (log-sum-exp of each score row, saved for backward);
//! `delta: [batch, heads, tokens]` (`dO·O` per row, computed in backward).

use super::rng;
use super::Real;

/// Sizes and options of one attention call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionShape {
    /// Sequences.
    pub batch: usize,
    /// Tokens per sequence (≤ 64 on the GPU).
    pub tokens: usize,
    /// Heads.
    pub heads: usize,
    /// Features per head.
    pub head_dim: usize,
    /// Score scale, normally `1/√head_dim`.
    pub scale: f32,
    /// Dropout probability on the attention weights (0: none).
    pub dropout: f32,
    /// Dropout RNG key.
    pub seed: u64,
    /// Dropout RNG stream.
    pub stream: u64,
}

impl AttentionShape {
    /// Standard attention without dropout.
    pub fn new(batch: usize, tokens: usize, heads: usize, head_dim: usize) -> Self {
        AttentionShape {
            batch,
            tokens,
            heads,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
            dropout: 0.0,
            seed: 0,
            stream: 0,
        }
    }

    /// Width of a token row (`heads · head_dim`).
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Elements of q, k, v or o.
    pub fn len(&self) -> usize {
        self.batch * self.tokens * self.width()
    }

    /// Whether there is nothing to compute.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements of lse / delta.
    pub fn rows(&self) -> usize {
        self.batch * self.heads * self.tokens
    }

    /// Dropout multiplier of weight `(b, h, i, j)`: `0` or `1/(1−p)`.
    pub fn dropout_mult(&self, b: usize, h: usize, i: usize, j: usize) -> f32 {
        if self.dropout <= 0.0 {
            return 1.0;
        }
        let idx = (((b * self.heads + h) * self.tokens + i) * self.tokens + j) as u64;
        if rng::keep(self.seed, self.stream, idx, self.dropout) {
            1.0 / (1.0 - self.dropout)
        } else {
            0.0
        }
    }

    fn at(&self, b: usize, t: usize, h: usize) -> usize {
        (b * self.tokens + t) * self.width() + h * self.head_dim
    }
}

fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

/// Sequences per thread for `batch` sequences of `work` multiply-adds each: one thread below
/// ~2¹⁶ multiply-adds in all, else an even split over the cores. Every sequence is computed
/// whole by one thread, so results do not depend on the split.
fn per_thread(s: &AttentionShape) -> usize {
    let work = s.batch * s.heads * s.tokens * s.tokens * s.head_dim;
    let threads = if work < 1 << 16 { 1 } else { super::threads() };
    s.batch.div_ceil(threads).max(1)
}

/// `o_i = Σ_{j≤i} drop(softmax_j(scale·q_i·k_j))·v_j` per (batch, head); writes `lse`.
/// Sequences are split over the cores.
pub fn attention<T: Real>(s: &AttentionShape, q: &[T], k: &[T], v: &[T], o: &mut [T], lse: &mut [T]) {
    let nb = per_thread(s);
    let (ow, lw) = (s.tokens * s.width(), s.heads * s.tokens);
    if nb >= s.batch {
        return attention_part(s, 0, q, k, v, o, lse);
    }
    std::thread::scope(|sc| {
        for (i, (op, lp)) in o.chunks_mut(nb * ow).zip(lse.chunks_mut(nb * lw)).enumerate() {
            sc.spawn(move || attention_part(s, i * nb, q, k, v, op, lp));
        }
    });
}

/// [`attention`] of the sequences from `b0` on whose outputs `o`, `lse` hold.
fn attention_part<T: Real>(s: &AttentionShape, b0: usize, q: &[T], k: &[T], v: &[T], o: &mut [T], lse: &mut [T]) {
    let (t, d) = (s.tokens, s.head_dim);
    let scale = T::of(f64::from(s.scale));
    let (ow, lw) = (t * s.width(), s.heads * t);
    let mut scores = vec![T::zero(); t];
    for b in b0..b0 + o.len() / ow {
        for h in 0..s.heads {
            for i in 0..t {
                let qi = &q[s.at(b, i, h)..][..d];
                let mut m = T::neg_infinity();
                for (j, sc) in scores.iter_mut().enumerate().take(i + 1) {
                    *sc = scale * dot(qi, &k[s.at(b, j, h)..][..d]);
                    m = m.max(*sc);
                }
                let mut l = T::zero();
                for sc in scores[..=i].iter_mut() {
                    *sc = (*sc - m).exp();
                    l += *sc;
                }
                lse[(b - b0) * lw + h * t + i] = m + l.ln();
                let inv = l.recip();
                let oi = &mut o[s.at(b, i, h) - b0 * ow..][..d];
                oi.iter_mut().for_each(|x| *x = T::zero());
                for (j, &e) in scores.iter().enumerate().take(i + 1) {
                    let p = e * inv * T::of(f64::from(s.dropout_mult(b, h, i, j)));
                    oi.iter_mut().zip(&v[s.at(b, j, h)..][..d]).for_each(|(x, &vv)| *x += p * vv);
                }
            }
        }
    }
}

/// Gradients of [`attention`] from the forward's `o` and `lse`:
/// `Δ_i = dO_i·O_i`, `P_ij = exp(scale·q_i·k_j − lse_i)`, `dS_ij = P_ij (drop_ij·dO_i·v_j − Δ_i)`,
/// `dq_i = scale Σ_j dS_ij k_j`, `dk_j = scale Σ_i dS_ij q_i`, `dv_j = Σ_i drop_ij P_ij dO_i`.
/// Sequences are split over the cores.
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd<T: Real>(
    s: &AttentionShape,
    q: &[T],
    k: &[T],
    v: &[T],
    o: &[T],
    lse: &[T],
    d_o: &[T],
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
) {
    let nb = per_thread(s);
    let ow = s.tokens * s.width();
    let inputs = Inputs { q, k, v, o, lse, d_o };
    if nb >= s.batch {
        return attention_bwd_part(s, 0, &inputs, dq, dk, dv);
    }
    let inputs = &inputs;
    std::thread::scope(|sc| {
        let parts = dq.chunks_mut(nb * ow).zip(dk.chunks_mut(nb * ow)).zip(dv.chunks_mut(nb * ow));
        for (i, ((gq, gk), gv)) in parts.enumerate() {
            sc.spawn(move || attention_bwd_part(s, i * nb, inputs, gq, gk, gv));
        }
    });
}

/// The backward's inputs.
struct Inputs<'a, T> {
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    o: &'a [T],
    lse: &'a [T],
    d_o: &'a [T],
}

/// [`attention_bwd`] of the sequences from `b0` on whose gradients `dq`, `dk`, `dv` hold.
fn attention_bwd_part<T: Real>(
    s: &AttentionShape,
    b0: usize,
    x: &Inputs<'_, T>,
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
) {
    let Inputs { q, k, v, o, lse, d_o } = *x;
    let (t, d) = (s.tokens, s.head_dim);
    let scale = T::of(f64::from(s.scale));
    let base = b0 * t * s.width();
    dq.iter_mut().chain(dk.iter_mut()).chain(dv.iter_mut()).for_each(|x| *x = T::zero());
    for b in b0..b0 + dq.len() / (t * s.width()) {
        for h in 0..s.heads {
            for i in 0..t {
                let oa = s.at(b, i, h);
                let delta = dot(&d_o[oa..][..d], &o[oa..][..d]);
                let ls = lse[(b * s.heads + h) * t + i];
                for j in 0..=i {
                    let ka = s.at(b, j, h);
                    let p = (scale * dot(&q[oa..][..d], &k[ka..][..d]) - ls).exp();
                    let mult = T::of(f64::from(s.dropout_mult(b, h, i, j)));
                    let dp = mult * dot(&d_o[oa..][..d], &v[ka..][..d]);
                    let ds = p * (dp - delta);
                    for e in 0..d {
                        dq[oa - base + e] += scale * ds * k[ka + e];
                        dk[ka - base + e] += scale * ds * q[oa + e];
                        dv[ka - base + e] += mult * p * d_o[oa + e];
                    }
                }
            }
        }
    }
}
