// transformer/gpt_infer.wgsl — a whole minGPT stack for inference in one dispatch:
//   x ← x + pos (optional);  for each block: x += Wo·Attn(LN1 x) + bo;  x += Wd·GELU(Wu·LN2 x + bu) + bd;
//   y = LN_f(x).  Pre-LN blocks, causal multi-head attention (scale p.scale), exact (erf) GELU,
//   biased-variance LayerNorm with eps p.eps, no dropout — what nn::Gpt computes with an
//   inference tape, without the ~11 dispatches per block (on lavapipe every dispatch costs a
//   thread-pool wake-up, which dominates small batches).
//
// Layout: x, y [batch, NT, E] row-major; w is the model's flat parameter buffer and every
// tensor is found by its element offset in p (per layer 16 offsets, 4 per vec4: ln1 γ, ln1 β,
// Wq, bq | Wk, bk, Wv, bv | Wo, bo, ln2 γ, ln2 β | Wu, bu, Wd, bd); weights are [in, out]
// row-major as nn::Linear stores them. Defines: NT tokens, E width (multiple of 4), H heads,
// HD = E / H. The sequence lives in workgroup memory (6·NT·E floats): xs the residual stream,
// hs a normalised copy, big = per row [q | k | v | attention out] or the 4E MLP hidden.
// Each invocation owns 4 output columns of a projection for all NT rows (vec4 accumulators in
// registers), so every weight is read once per sequence.
//
// Dispatch: kernels::grid(batch) — one workgroup per sequence, WG invocations.
// CPU twin: cpu::transformer::gpt_infer.

const E4: u32 = E / 4u;
const HID: u32 = 4u * E;
const ROW: u32 = NT * E;
const MAXL: u32 = 8u;

struct Params {
    batch: u32,
    layers: u32,
    has_pos: u32,
    pos_off: u32,
    eps: f32,
    scale: f32,
    lnf_g: u32,
    lnf_b: u32,
    off: array<vec4<u32>, 32>, // 4 · MAXL
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64u;

var<workgroup> xs: array<f32, ROW>;
var<workgroup> hs: array<f32, ROW>;
var<workgroup> big: array<f32, 4u * ROW>;
var<workgroup> stats: array<f32, 2u * NT>;

fn load4(o: u32) -> vec4<f32> {
    return vec4<f32>(w[o], w[o + 1u], w[o + 2u], w[o + 3u]);
}

// hs = LN(xs) with γ at g, β at b. Called by every invocation (contains barriers).
fn layer_norm(g: u32, b: u32, li: u32) {
    if (li < NT) {
        var s = 0.0;
        for (var c = 0u; c < E; c++) { s += xs[li * E + c]; }
        let mu = s / f32(E);
        var v = 0.0;
        for (var c = 0u; c < E; c++) { let d = xs[li * E + c] - mu; v += d * d; }
        stats[li] = mu;
        stats[NT + li] = inverseSqrt(v / f32(E) + p.eps);
    }
    workgroupBarrier();
    for (var i = li; i < ROW; i += WG) {
        let r = i / E;
        let c = i % E;
        hs[i] = (xs[i] - stats[r]) * stats[NT + r] * w[g + c] + w[b + c];
    }
    workgroupBarrier();
}

// Columns c..c+4 of hs · W for every row; W starts at wo (already offset by c), rows of n.
fn proj_hs(wo: u32, n: u32) -> array<vec4<f32>, NT> {
    var acc: array<vec4<f32>, NT>;
    for (var k = 0u; k < E; k++) {
        let wv = load4(wo + k * n);
        for (var r = 0u; r < NT; r++) { acc[r] += hs[r * E + k] * wv; }
    }
    return acc;
}

// Columns c..c+4 of big[:, src..src+K] · W (W at wo, already offset by c, rows of n).
fn proj_big(wo: u32, n: u32, src: u32, kk: u32) -> array<vec4<f32>, NT> {
    var acc: array<vec4<f32>, NT>;
    for (var k = 0u; k < kk; k++) {
        let wv = load4(wo + k * n);
        for (var r = 0u; r < NT; r++) { acc[r] += big[r * HID + src + k] * wv; }
    }
    return acc;
}

fn gelu4(v: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(0.5 * v.x * (1.0 + erf_approx(v.x * INV_SQRT_2)), 0.5 * v.y * (1.0 + erf_approx(v.y * INV_SQRT_2)),
                     0.5 * v.z * (1.0 + erf_approx(v.z * INV_SQRT_2)), 0.5 * v.w * (1.0 + erf_approx(v.w * INV_SQRT_2)));
}

// Causal attention over q, k, v in big; the output goes to big[:, 3E..4E].
fn attend(li: u32) {
    for (var t = li; t < NT * H; t += WG) {
        let i = t / H;
        let h = t % H;
        var qv: array<f32, HD>;
        for (var d = 0u; d < HD; d++) { qv[d] = big[i * HID + h * HD + d]; }
        var acc: array<f32, HD>;
        var m = NEG_INF;
        var l = 0.0;
        for (var j = 0u; j <= i; j++) {
            let kb = j * HID + E + h * HD;
            var s = 0.0;
            for (var d = 0u; d < HD; d++) { s += qv[d] * big[kb + d]; }
            s *= p.scale;
            let m_new = max(m, s);
            let corr = exp(m - m_new);
            let e = exp(s - m_new);
            l = l * corr + e;
            for (var d = 0u; d < HD; d++) { acc[d] = acc[d] * corr + e * big[kb + E + d]; }
            m = m_new;
        }
        for (var d = 0u; d < HD; d++) { big[i * HID + 3u * E + h * HD + d] = acc[d] / l; }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let b = linear_group(wid, nwg);
    if (b >= p.batch) {
        return;
    }
    let base = b * ROW;
    for (var i = li; i < ROW; i += WG) {
        var v = x[base + i];
        if (p.has_pos != 0u) { v += w[p.pos_off + i]; }
        xs[i] = v;
    }
    workgroupBarrier();
    for (var l = 0u; l < p.layers; l++) {
        let o0 = p.off[4u * l];
        let o1 = p.off[4u * l + 1u];
        let o2 = p.off[4u * l + 2u];
        let o3 = p.off[4u * l + 3u];
        layer_norm(o0.x, o0.y, li);
        for (var g = li; g < 3u * E4; g += WG) {
            let m = g / E4;
            let c = 4u * (g % E4);
            var wo = o0.z;
            var bo = o0.w;
            if (m == 1u) { wo = o1.x; bo = o1.y; }
            if (m == 2u) { wo = o1.z; bo = o1.w; }
            let acc = proj_hs(wo + c, E);
            let bias = load4(bo + c);
            for (var r = 0u; r < NT; r++) {
                let v = acc[r] + bias;
                let o = r * HID + m * E + c;
                big[o] = v.x; big[o + 1u] = v.y; big[o + 2u] = v.z; big[o + 3u] = v.w;
            }
        }
        workgroupBarrier();
        attend(li);
        workgroupBarrier();
        for (var g = li; g < E4; g += WG) {
            let c = 4u * g;
            let acc = proj_big(o2.x + c, E, 3u * E, E);
            let bias = load4(o2.y + c);
            for (var r = 0u; r < NT; r++) {
                let v = acc[r] + bias;
                let o = r * E + c;
                xs[o] += v.x; xs[o + 1u] += v.y; xs[o + 2u] += v.z; xs[o + 3u] += v.w;
            }
        }
        workgroupBarrier();
        layer_norm(o2.z, o2.w, li);
        for (var g = li; g < E; g += WG) { // HID / 4 = E column groups
            let c = 4u * g;
            let acc = proj_hs(o3.x + c, HID);
            let bias = load4(o3.y + c);
            for (var r = 0u; r < NT; r++) {
                let v = gelu4(acc[r] + bias);
                let o = r * HID + c;
                big[o] = v.x; big[o + 1u] = v.y; big[o + 2u] = v.z; big[o + 3u] = v.w;
            }
        }
        workgroupBarrier();
        for (var g = li; g < E4; g += WG) {
            let c = 4u * g;
            let acc = proj_big(o3.z + c, E, 0u, HID);
            let bias = load4(o3.w + c);
            for (var r = 0u; r < NT; r++) {
                let v = acc[r] + bias;
                let o = r * E + c;
                xs[o] += v.x; xs[o + 1u] += v.y; xs[o + 2u] += v.z; xs[o + 3u] += v.w;
            }
        }
        workgroupBarrier();
    }
    layer_norm(p.lnf_g, p.lnf_b, li);
    for (var i = li; i < ROW; i += WG) { y[base + i] = hs[i]; }
}
