// attention/attention_common.wgsl — parameters, indexing and dropout shared by the causal
// attention kernels (a library; needs rng/philox.wgsl and one of width1/2/4.wgsl).
//
// q, k, v, o, dq, dk, dv are [batch, tokens, heads·HD] (heads side by side, as a Linear
// produces them; HD is a define so per-head vectors live in registers); lse and delta are
// [batch, heads, tokens]. Dropout multiplies weight (b, h, i, j) by keep/(1−prob) with keep
// from Philox word ((b·heads + h)·tokens + i)·tokens + j of stream (key, offset). Each kernel
// declares `p: Params` as its last binding.

struct Params {
    batch: u32, tokens: u32, heads: u32, scale: f32,
    prob: f32, _p0: u32, key: vec2<u32>,
    offset: vec2<u32>, _p1: u32, _p2: u32,
}

// Offset of head h's vector of token t in sequence b, in loads of VW floats (HD % VW == 0).
fn row_at(b: u32, t: u32, h: u32) -> u32 {
    return ((b * p.tokens + t) * p.heads * HD + h * HD) / VW;
}

// Loads (of VW floats) per head vector.
const HDV: u32 = HD / VW;

// Dropout multiplier of attention weight (b, h, i, j): 0 or 1/(1 − prob).
fn drop_mult(b: u32, h: u32, i: u32, j: u32) -> f32 {
    if (p.prob <= 0.0) {
        return 1.0;
    }
    let idx = ((b * p.heads + h) * p.tokens + i) * p.tokens + j;
    return select(0.0, 1.0 / (1.0 - p.prob), to_unit(philox_word(p.key, p.offset, idx)) >= p.prob);
}

// One step of the online softmax over scores s_0, s_1, …: updates the running max m and sum
// l = Σ exp(s_j − m) for score s and returns (corr, e) — the factor rescaling what was
// accumulated under the old max, and exp(s − m) under the new one.
fn online_step(m: ptr<function, f32>, l: ptr<function, f32>, s: f32) -> vec2<f32> {
    let m_new = max(*m, s);
    let corr = exp(*m - m_new);
    let e = exp(s - m_new);
    *l = *l * corr + e;
    *m = m_new;
    return vec2<f32>(corr, e);
}
