// mlp/chain_infer.wgsl — a chain of small dense ops on single rows in one dispatch: the heads
// of a network for inference (linear layers with a fused activation, activations, residual
// adds, a log-softmax), so a few-row MLP stack costs one dispatch instead of one per op.
//   Linear:     s[dst] = act(s[src] · W + b)    (W [k, n] row-major at w in the flat buffer)
//   Map:        s[dst] = act(s[src])
//   Add:        s[dst] = s[src] + s[aux]
//   LogSoftmax: s[src] −= log Σ exp s[src]      (in place)
//   Store:      y[row, dst..dst+n] = s[src]
// act is a cpu::elementwise::Unary code (NO_ACT: none), applied through unary_by_code.
//
// Layout: x rows in_stride apart, the chain reading in_width values from in_off (they become
// scratch 0..in_width); w the model's flat parameter buffer, read through its texture mirror
// (common/linear_texture.wgsl: vec4s for weights at offsets and widths that are multiples of
// 4, single floats otherwise); y [rows, out_width].
// s is one row's scratch in workgroup memory (SCR floats as vec4s; slots start at multiples
// of 4, see cpu::mlp_chain::ChainPlan::alloc). A Linear gives each invocation four output
// columns (vec4 accumulators); a narrow one (fewer than WG/2 column groups) also splits k into
// S = WG / groups parts whose partial sums are added in a fixed order, so the result does not
// depend on scheduling. Every op ends with a barrier.
//
// Split (a single row on a many-core adapter): op `split`, a Linear, is shared out by column
// groups among PARTS workgroups per row, and so is the input of the Linears that read its
// output (flag PARTIAL in their kind): each part computes their raw sums over its own columns.
// Stage 0 runs ops 0..=split in every part (the ops before it redundantly, the split op on the
// part's columns; Stores by part 0 only), then the PARTIAL ops' sums over the part's k-range,
// and writes to xch [rows, xrow] (vec4s; every area a multiple of 4 floats): the scratch (xw
// floats; part 0 everything outside the split op's output, each part its own columns of it),
// then per PARTIAL op in order its sums [parts, n rounded up to 4]. Stage 1, a second
// dispatch of one workgroup per row, reloads the scratch and runs the ops after split, a
// PARTIAL op adding its parts' sums in part order before bias and activation (so its sums are
// ordered differently from the unsplit chain's; deterministic).
//
// Entry point from common/entry_sg.wgsl on adapters with subgroups of ≥ 8 (wide aligned
// Linears then share the input through the subgroup: one scratch load per 8 four-steps of k),
// else common/entry_plain.wgsl.
//
// Dispatch: kernels::grid(rows · parts) — one workgroup per row and part, WG invocations;
// parts = 1 and no split unless splitting. Defines: SCR, and OP (unused here; the included
// unary_ops.wgsl needs one).
// CPU twin: cpu::mlp_chain::chain_infer.

const NO_ACT: u32 = 0xffffffffu;
const NO_BIAS: u32 = 0xffffffffu;
const NO_SPLIT: u32 = 0xffffffffu;
const PARTIAL: u32 = 0x100u; // kind flag: a Linear reading the split op's output
const MAX_OPS: u32 = 24u;

struct Op { kind: u32, act: u32, src: u32, dst: u32, aux: u32, n: u32, w: u32, b: u32 }

struct Params {
    rows: u32,
    n_ops: u32,
    in_stride: u32,
    in_off: u32,
    in_width: u32,
    out_width: u32,
    parts: u32, // workgroups per row
    split: u32, // index of the split op, or NO_SPLIT
    stage: u32, // 0: ops 0..=split (all ops without a split); 1: ops after split
    xw: u32,    // scratch floats exchanged per row between the stages (a multiple of 4)
    xrow: u32,  // floats of xch per row: xw, then the PARTIAL ops' sums (a multiple of 4)
    sparts: u32, // parts of the split (stage 0's workgroups per row)
    ops: array<Op, 24>, // MAX_OPS
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var w: texture_2d<f32>; // the flat parameter buffer's texture mirror
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> xch: array<vec4<f32>>; // [rows, xrow / 4] (unused unless split)
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64u; // at most RED
const RED: u32 = 64u;
const SCR4: u32 = SCR / 4u;

var<workgroup> s: array<vec4<f32>, SCR4>;
var<workgroup> red: array<vec4<f32>, RED>;

fn sget(i: u32) -> f32 {
    return s[i / 4u][i % 4u];
}

fn sset(i: u32, v: f32) {
    s[i / 4u][i % 4u] = v;
}

fn act(code: u32, v: f32) -> f32 {
    if (code == NO_ACT) {
        return v;
    }
    return unary_by_code(code, v, 0.0, 0.0);
}

// Σ_{k0 ≤ i < k1} s[src + i] · W[i, c..c+4] (columns past n give 0).
fn dot_cols(op: Op, c: u32, k0: u32, k1: u32) -> vec4<f32> {
    let n = op.n;
    var acc = vec4<f32>(0.0);
    if (c + 4u <= n && op.w % 4u == 0u && n % 4u == 0u && op.src % 4u == 0u && k0 % 4u == 0u) {
        let n4 = n / 4u;
        var o = (op.w + k0 * n + c) / 4u;
        var i = k0;
        for (; i + 4u <= k1; i += 4u) {
            let a = s[(op.src + i) / 4u];
            acc += a.x * tex4(w, o) + a.y * tex4(w, o + n4) + a.z * tex4(w, o + 2u * n4) + a.w * tex4(w, o + 3u * n4);
            o += 4u * n4;
        }
        for (; i < k1; i++) { acc += sget(op.src + i) * tex4(w, o); o += n4; }
        return acc;
    }
    for (var j = 0u; j < 4u; j++) {
        if (c + j < n) {
            var v = 0.0;
            for (var i = k0; i < k1; i++) { v += sget(op.src + i) * tex1(w, op.w + i * n + c + j); }
            acc[j] = v;
        }
    }
    return acc;
}

// Bias, activation and store of columns c..min(c + 4, n).
fn finish(op: Op, c: u32, acc: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (c + j < op.n) {
            var v = acc[j];
            if (op.b != NO_BIAS) { v += tex1(w, op.b + c + j); }
            sset(op.dst + c + j, act(op.act, v));
        }
    }
}

// dot_cols(op, c, kb, ke) (kb a multiple of 4) for an aligned op (weights, width and input
// slot multiples of 4) with the input shared: lane l of the subgroup loads 4-step k0 + l and
// the others take it by `share`. Same sums in the same order. Called by whole subgroups
// (uniform control flow).
fn dot_cols_shared(op: Op, c: u32, kb: u32, ke: u32, sg: u32) -> vec4<f32> {
    let n4 = op.n / 4u;
    let k4 = ke / 4u;
    let s0 = op.src / 4u;
    var o = (op.w + kb * op.n + c) / 4u;
    var acc = vec4<f32>(0.0);
    for (var k0 = kb / 4u; k0 < k4; k0 += 8u) {
        let blk = s[s0 + min(k0 + sg, k4 - 1u)];
        for (var j = 0u; j < min(8u, k4 - k0); j++) {
            let a = share(blk, j);
            acc += a.x * tex4(w, o) + a.y * tex4(w, o + n4) + a.z * tex4(w, o + 2u * n4) + a.w * tex4(w, o + 3u * n4);
            o += 4u * n4;
        }
    }
    for (var i = max(4u * k4, kb); i < ke; i++) { acc += sget(op.src + i) * tex4(w, o); o += n4; }
    return acc;
}

fn is_aligned(op: Op) -> bool {
    return op.w % 4u == 0u && op.n % 4u == 0u && op.src % 4u == 0u;
}

// Column groups of 4 in an op's output.
fn groups_of(op: Op) -> u32 {
    return (op.n + 3u) / 4u;
}

// dot_cols over [kb, ke) (kb a multiple of 4), with the input shared through the subgroup
// where the op allows it. Called by whole workgroups (uniform control flow).
fn dot_cols_uniform(op: Op, c: u32, kb: u32, ke: u32, sg: u32) -> vec4<f32> {
    if (SHARE && is_aligned(op)) {
        return dot_cols_shared(op, c, kb, ke, sg);
    }
    return dot_cols(op, c, kb, ke);
}

// Column groups [g0, g1) of a Linear, 4 columns each, in a uniform loop (invocations past g1
// recompute the last group and do not store) so that a subgroup can share the input; a narrow
// Linear (fewer than WG/2 groups in all, whatever the range) instead splits k into up to 16
// parts summed in a fixed order, so a column's sum does not depend on how the columns are
// shared out.
fn linear(op: Op, g0: u32, g1: u32, li: u32, sg: u32) {
    let groups = g1 - g0;
    let parts = clamp(WG / groups_of(op), 1u, 16u);
    if (parts == 1u) {
        for (var gb = g0; gb < g1; gb += WG) {
            let g = min(gb + li, g1 - 1u);
            let acc = dot_cols_uniform(op, 4u * g, 0u, op.aux, sg);
            if (gb + li < g1) { finish(op, 4u * g, acc); }
        }
    } else {
        let chunk = (((op.aux + parts - 1u) / parts) + 3u) / 4u * 4u;
        if (li < groups * parts) {
            let k0 = min((li / groups) * chunk, op.aux);
            red[li] = dot_cols(op, 4u * (g0 + li % groups), k0, min(k0 + chunk, op.aux));
        }
        workgroupBarrier();
        if (li < groups) {
            var acc = vec4<f32>(0.0);
            for (var q = 0u; q < parts; q++) { acc += red[q * groups + li]; }
            finish(op, 4u * (g0 + li), acc);
        }
    }
}

// Stage 0: a PARTIAL op's raw sums over the k-range [kb, ke) of its input (this part's
// columns of the split op's output), every column group, to floats at..at + n of xch (at a
// multiple of 4; the last group's padding is written too).
fn partial_sums(op: Op, kb: u32, ke: u32, at: u32, li: u32, sg: u32) {
    let groups = groups_of(op);
    for (var gb = 0u; gb < groups; gb += WG) {
        let g = min(gb + li, groups - 1u);
        let acc = dot_cols_uniform(op, 4u * g, kb, ke, sg);
        if (gb + li < groups) { xch[at / 4u + g] = acc; }
    }
}

// Stage 1: a PARTIAL op from its parts' sums at float `at` of xch, added in part order.
fn partial_finish(op: Op, at: u32, li: u32) {
    for (var g = li; g < groups_of(op); g += WG) {
        var acc = vec4<f32>(0.0);
        for (var q = 0u; q < p.sparts; q++) { acc += xch[at / 4u + q * groups_of(op) + g]; }
        finish(op, 4u * g, acc);
    }
}

// The column groups of the split op that `part` computes.
fn part_groups(op: Op, part: u32) -> vec2<u32> {
    return vec2<u32>(part * groups_of(op) / p.sparts, (part + 1u) * groups_of(op) / p.sparts);
}

// The chain for the row and part of workgroup wid (li: local index, sg: subgroup lane).
fn run(wid: vec3<u32>, nwg: vec3<u32>, li: u32, sg: u32) {
    let gid = linear_group(wid, nwg);
    let row = gid / p.parts;
    let part = gid % p.parts;
    if (row >= p.rows) {
        return;
    }
    var first = 0u;
    var end = p.n_ops;
    let xbase = row * p.xrow;
    if (p.stage == 1u) {
        for (var j = li; j < p.xw / 4u; j += WG) { s[j] = xch[xbase / 4u + j]; }
        first = p.split + 1u;
    } else {
        for (var j = li; j < p.in_width; j += WG) { sset(j, x[row * p.in_stride + p.in_off + j]); }
        if (p.split != NO_SPLIT) { end = p.split + 1u; }
    }
    workgroupBarrier();
    var at = xbase + p.xw; // the next PARTIAL op's sums
    for (var i = first; i < end; i++) {
        let op = p.ops[i];
        switch op.kind & 0xffu {
            case 0u: { // Linear: aux = k
                if (i == p.split) {
                    let r = part_groups(op, part);
                    linear(op, r.x, r.y, li, sg);
                } else if ((op.kind & PARTIAL) != 0u) {
                    partial_finish(op, at, li);
                    at += 4u * p.sparts * groups_of(op);
                } else {
                    linear(op, 0u, groups_of(op), li, sg);
                }
            }
            case 1u: { // Map
                for (var j = li; j < op.n; j += WG) { sset(op.dst + j, act(op.act, sget(op.src + j))); }
            }
            case 2u: { // Add: aux = second operand
                for (var j = li; j < op.n; j += WG) { sset(op.dst + j, sget(op.src + j) + sget(op.aux + j)); }
            }
            case 3u: { // LogSoftmax (short vectors: one invocation)
                if (li == 0u) {
                    var m = NEG_INF;
                    for (var j = 0u; j < op.n; j++) { m = max(m, sget(op.src + j)); }
                    var e = 0.0;
                    for (var j = 0u; j < op.n; j++) { e += exp(sget(op.src + j) - m); }
                    let lse = m + log(e);
                    for (var j = 0u; j < op.n; j++) { sset(op.src + j, sget(op.src + j) - lse); }
                }
            }
            default: { // Store (part 0 only)
                if (part == 0u) {
                    for (var j = li; j < op.n; j += WG) { y[row * p.out_width + op.dst + j] = sget(op.src + j); }
                }
            }
        }
        workgroupBarrier();
    }
    if (p.stage == 0u && p.split != NO_SPLIT) {
        let op = p.ops[p.split];
        let r = 4u * part_groups(op, part);
        let ke = min(r.y, op.n);
        for (var i = p.split + 1u; i < p.n_ops; i++) {
            let c = p.ops[i];
            if ((c.kind & PARTIAL) != 0u) {
                partial_sums(c, r.x, ke, at + 4u * part * groups_of(c), li, sg);
                at += 4u * p.sparts * groups_of(c);
            }
        }
        // Whole vec4s where this part owns all 4 floats, single floats where it owns some.
        for (var j4 = li; j4 < p.xw / 4u; j4 += WG) {
            var mine = vec4<bool>(false);
            for (var e = 0u; e < 4u; e++) {
                let j = 4u * j4 + e;
                let inside = j >= op.dst && j < op.dst + op.n;
                let c = j - op.dst;
                mine[e] = (!inside && part == 0u) || (inside && c >= r.x && c < r.y);
            }
            if (all(mine)) {
                xch[xbase / 4u + j4] = s[j4];
            } else {
                for (var e = 0u; e < 4u; e++) {
                    if (mine[e]) { xch[xbase / 4u + j4][e] = s[j4][e]; }
                }
            }
        }
    }
}
