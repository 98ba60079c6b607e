// transformer/gpt_infer.wgsl — a whole minGPT stack for inference in one dispatch (entry point
// from common/entry_sg.wgsl on adapters with subgroups of ≥ 8, else common/entry_plain.wgsl):
//   x ← x·Wt + bt (optional token projection of DIN-wide inputs); x ← x + pos (optional);  for each block: x += Wo·Attn(LN1 x) + bo;  x += Wd·GELU(Wu·LN2 x + bu) + bd;
//   y = LN_f(x).  Pre-LN blocks, causal multi-head attention (scale p.scale), exact (erf) GELU,
//   biased-variance LayerNorm with eps p.eps, no dropout — what nn::Gpt computes with an
//   inference tape, without the ~11 dispatches per block (on lavapipe every dispatch costs a
//   thread-pool wake-up, which dominates small batches).
//
// Layout: x [batch, NT, E] row-major, or [batch, NT, din] with the token projection; y
// [batch, NT, E] written as vec4s; w is the model's flat parameter buffer, read as vec4s
// through its texture mirror (common/linear_texture.wgsl), and every tensor is found by its element offset in p (all
// multiples of 4) (per layer 16 offsets, 4 per vec4: ln1 γ, ln1 β,
// Wq, bq | Wk, bk, Wv, bv | Wo, bo, ln2 γ, ln2 β | Wu, bu, Wd, bd); weights are [in, out]
// row-major as nn::Linear stores them. Defines: NT tokens, E width (multiple of 4), H heads,
// HD = E / H. The sequence lives in workgroup memory (6·NT·E floats): xs the residual stream,
// hs a normalised copy, big = per row [q | k | v | attention out] or the 4E MLP hidden, all
// vec4 arrays. Each invocation owns 4 output columns of a projection for all NT rows (vec4
// accumulators in registers) and steps k four at a time, so every weight is read once per
// sequence and each load moves a vec4 (llvmpipe pays per load, not per float). Every
// invocation of a projection needs the same activations: with SHARE (entry_sg.wgsl) lane l of each subgroup loads 4-step k0 + l of every row
// and the 8 steps are handed round with `share` (subgroupShuffle), one load where there were 8.
// The projection loops are uniform (invocations past the last column group recompute it and
// do not store), so whole subgroups take part in every shuffle.
//
// Dispatch: kernels::grid(batch) — one workgroup per sequence, WG invocations.
// CPU twin: cpu::transformer::gpt_infer.

const E4: u32 = E / 4u;
const HID: u32 = 4u * E;
const HID4: u32 = E;
const ROW4: u32 = NT * E4;

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
    off: array<vec4<u32>, 32>, // 4 per block, 8 blocks
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var w: texture_2d<f32>; // the flat parameter buffer's texture mirror
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64u;

var<workgroup> xs: array<vec4<f32>, ROW4>;
var<workgroup> hs: array<vec4<f32>, ROW4>;
var<workgroup> big: array<vec4<f32>, 4u * ROW4>;
var<workgroup> stats: array<f32, 2u * NT>;

// hs = LN(xs) with γ at g, β at b. Called by every invocation (contains barriers).
fn layer_norm(g: u32, b: u32, li: u32) {
    for (var r = li; r < NT; r += WG) {
        var s = vec4<f32>(0.0);
        for (var c = 0u; c < E4; c++) { s += xs[r * E4 + c]; }
        let mu = (s.x + s.y + s.z + s.w) / f32(E);
        var v = vec4<f32>(0.0);
        for (var c = 0u; c < E4; c++) { let d = xs[r * E4 + c] - mu; v += d * d; }
        stats[r] = mu;
        stats[NT + r] = inverseSqrt((v.x + v.y + v.z + v.w) / f32(E) + p.eps);
    }
    workgroupBarrier();
    for (var i = li; i < ROW4; i += WG) {
        let r = i / E4;
        let c = i % E4;
        hs[i] = (xs[i] - stats[r]) * stats[NT + r] * tex4(w, g / 4u + c) + tex4(w, b / 4u + c);
    }
    workgroupBarrier();
}

// Row r's activations at 4-step k of a projection's input: hs when src is FROM_HS, else
// big[:, src..] (src an element offset).
const FROM_HS: u32 = 0xffffffffu;

fn act4(src: u32, r: u32, k: u32) -> vec4<f32> {
    if (src == FROM_HS) {
        return hs[r * E4 + k];
    }
    return big[r * HID4 + src / 4u + k];
}

// Columns c..c+4 of in · W for every row, in = act4(src, ·, ·) with kk elements per row; W
// (rows of n) starts at element wo, offset by c. sg: the invocation's subgroup lane (SHARE).
fn proj(wo: u32, n: u32, src: u32, kk: u32, sg: u32) -> array<vec4<f32>, NT> {
    var acc: array<vec4<f32>, NT>;
    let n4 = n / 4u;
    let k4 = kk / 4u;
    var o = wo / 4u;
    for (var k0 = 0u; k0 < k4; k0 += 8u) {
        var blk: array<vec4<f32>, NT>;
        if (SHARE) {
            let kl = min(k0 + sg, k4 - 1u);
            for (var r = 0u; r < NT; r++) { blk[r] = act4(src, r, kl); }
        }
        for (var j = 0u; j < min(8u, k4 - k0); j++) {
            let w0 = tex4(w, o);
            let w1 = tex4(w, o + n4);
            let w2 = tex4(w, o + 2u * n4);
            let w3 = tex4(w, o + 3u * n4);
            o += 4u * n4;
            for (var r = 0u; r < NT; r++) {
                var a: vec4<f32>;
                if (SHARE) { a = share(blk[r], j); } else { a = act4(src, r, k0 + j); }
                acc[r] += a.x * w0 + a.y * w1 + a.z * w2 + a.w * w3;
            }
        }
    }
    return acc;
}

fn big_at(i: u32) -> f32 {
    return big[i / 4u][i % 4u];
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
        for (var d = 0u; d < HD; d++) { qv[d] = big_at(i * HID + h * HD + d); }
        var acc: array<f32, HD>;
        var m = NEG_INF;
        var l = 0.0;
        for (var j = 0u; j <= i; j++) {
            let kb = j * HID + E + h * HD;
            var s = 0.0;
            for (var d = 0u; d < HD; d++) { s += qv[d] * big_at(kb + d); }
            s *= p.scale;
            let m_new = max(m, s);
            let corr = exp(m - m_new);
            let e = exp(s - m_new);
            l = l * corr + e;
            for (var d = 0u; d < HD; d++) { acc[d] = acc[d] * corr + e * big_at(kb + E + d); }
            m = m_new;
        }
        // Each (row, head) writes its own HD floats; neighbours in the same vec4 are other
        // heads' and written by other invocations, so stores are per component.
        for (var d = 0u; d < HD; d++) {
            let o = i * HID + 3u * E + h * HD + d;
            big[o / 4u][o % 4u] = acc[d] / l;
        }
    }
}

// The stack for the sequence of workgroup wid; li the local invocation index, sg its
// subgroup lane (with SHARE).
fn run(wid: vec3<u32>, nwg: vec3<u32>, li: u32, sg: u32) {
    let b = linear_group(wid, nwg);
    if (b >= p.batch) {
        return;
    }
    let base = b * ROW4;
    for (var i = li; i < ROW4; i += WG) {
        var v: vec4<f32>;
        if (p.has_tok != 0u) {
            let r = i / E4;
            let c = i % E4;
            let xr = (b * NT + r) * p.din;
            v = tex4(w, p.tok_b / 4u + c);
            for (var k = 0u; k < p.din; k++) { v += x[xr + k] * tex4(w, (p.tok_w + k * E) / 4u + c); }
        } else {
            let o = 4u * (base + i);
            v = vec4<f32>(x[o], x[o + 1u], x[o + 2u], x[o + 3u]);
        }
        if (p.has_pos != 0u) { v += tex4(w, p.pos_off / 4u + i); }
        xs[i] = v;
    }
    workgroupBarrier();
    for (var l = 0u; l < p.layers; l++) {
        let o0 = p.off[4u * l];
        let o1 = p.off[4u * l + 1u];
        let o2 = p.off[4u * l + 2u];
        let o3 = p.off[4u * l + 3u];
        layer_norm(o0.x, o0.y, li);
        for (var g0 = 0u; g0 < 3u * E4; g0 += WG) {
            let g = min(g0 + li, 3u * E4 - 1u);
            let m = g / E4;
            let c = 4u * (g % E4);
            var wo = o0.z;
            var bo = o0.w;
            if (m == 1u) { wo = o1.x; bo = o1.y; }
            if (m == 2u) { wo = o1.z; bo = o1.w; }
            let acc = proj(wo + c, E, FROM_HS, E, sg);
            let bias = tex4(w, (bo + c) / 4u);
            if (g0 + li < 3u * E4) {
                for (var r = 0u; r < NT; r++) { big[r * HID4 + m * E4 + c / 4u] = acc[r] + bias; }
            }
        }
        workgroupBarrier();
        attend(li);
        workgroupBarrier();
        for (var g0 = 0u; g0 < E4; g0 += WG) {
            let g = min(g0 + li, E4 - 1u);
            let acc = proj(o2.x + 4u * g, E, 3u * E, E, sg);
            let bias = tex4(w, o2.y / 4u + g);
            if (g0 + li < E4) {
                for (var r = 0u; r < NT; r++) { xs[r * E4 + g] += acc[r] + bias; }
            }
        }
        workgroupBarrier();
        layer_norm(o2.z, o2.w, li);
        for (var g0 = 0u; g0 < HID4; g0 += WG) {
            let g = min(g0 + li, HID4 - 1u);
            let acc = proj(o3.x + 4u * g, HID, FROM_HS, E, sg);
            let bias = tex4(w, o3.y / 4u + g);
            if (g0 + li < HID4) {
                for (var r = 0u; r < NT; r++) { big[r * HID4 + g] = gelu4(acc[r] + bias); }
            }
        }
        workgroupBarrier();
        for (var g0 = 0u; g0 < E4; g0 += WG) {
            let g = min(g0 + li, E4 - 1u);
            let acc = proj(o3.z + 4u * g, E, 0u, HID, sg);
            let bias = tex4(w, o3.w / 4u + g);
            if (g0 + li < E4) {
                for (var r = 0u; r < NT; r++) { xs[r * E4 + g] += acc[r] + bias; }
            }
        }
        workgroupBarrier();
    }
    layer_norm(p.lnf_g, p.lnf_b, li);
    for (var i = li; i < ROW4; i += WG) { y[base + i] = hs[i]; }
}
