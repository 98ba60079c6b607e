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
// scratch 0..in_width); w the model's flat parameter buffer, bound a second time as w4 for
// vec4 loads of weights at offsets and widths that are multiples of 4; y [rows, out_width].
// s is one row's scratch in workgroup memory (SCR floats as vec4s; slots start at multiples
// of 4, see cpu::mlp_chain::ChainPlan::alloc). A Linear gives each invocation four output
// columns (vec4 accumulators); a narrow one (fewer than WG/2 column groups) also splits k into
// S = WG / groups parts whose partial sums are added in a fixed order, so the result does not
// depend on scheduling. Every op ends with a barrier.
//
// Dispatch: kernels::grid(rows) — one workgroup per row, WG invocations. Defines: SCR, and OP
// (unused here; the included unary_ops.wgsl needs one).
// CPU twin: cpu::mlp_chain::chain_infer.

const NO_ACT: u32 = 0xffffffffu;
const NO_BIAS: u32 = 0xffffffffu;
const MAX_OPS: u32 = 24u;

struct Op { kind: u32, act: u32, src: u32, dst: u32, aux: u32, n: u32, w: u32, b: u32 }

struct Params {
    rows: u32,
    n_ops: u32,
    in_stride: u32,
    in_off: u32,
    in_width: u32,
    out_width: u32,
    pad0: u32,
    pad1: u32,
    ops: array<Op, 24>, // MAX_OPS
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> w4: array<vec4<f32>>; // the same buffer as w
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
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
            acc += a.x * w4[o] + a.y * w4[o + n4] + a.z * w4[o + 2u * n4] + a.w * w4[o + 3u * n4];
            o += 4u * n4;
        }
        for (; i < k1; i++) { acc += sget(op.src + i) * w4[o]; o += n4; }
        return acc;
    }
    for (var j = 0u; j < 4u; j++) {
        if (c + j < n) {
            var v = 0.0;
            for (var i = k0; i < k1; i++) { v += sget(op.src + i) * w[op.w + i * n + c + j]; }
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
            if (op.b != NO_BIAS) { v += w[op.b + c + j]; }
            sset(op.dst + c + j, act(op.act, v));
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let row = linear_group(wid, nwg);
    if (row >= p.rows) {
        return;
    }
    for (var j = li; j < p.in_width; j += WG) { sset(j, x[row * p.in_stride + p.in_off + j]); }
    workgroupBarrier();
    for (var i = 0u; i < p.n_ops; i++) {
        let op = p.ops[i];
        switch op.kind {
            case 0u: { // Linear: aux = k
                let groups = (op.n + 3u) / 4u;
                let parts = clamp(WG / groups, 1u, 16u);
                if (parts == 1u) {
                    for (var g = li; g < groups; g += WG) { finish(op, 4u * g, dot_cols(op, 4u * g, 0u, op.aux)); }
                } else {
                    let chunk = (((op.aux + parts - 1u) / parts) + 3u) / 4u * 4u;
                    if (li < groups * parts) {
                        let k0 = min((li / groups) * chunk, op.aux);
                        red[li] = dot_cols(op, 4u * (li % groups), k0, min(k0 + chunk, op.aux));
                    }
                    workgroupBarrier();
                    if (li < groups) {
                        var acc = vec4<f32>(0.0);
                        for (var q = 0u; q < parts; q++) { acc += red[q * groups + li]; }
                        finish(op, 4u * li, acc);
                    }
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
            default: { // Store
                for (var j = li; j < op.n; j += WG) { y[row * p.out_width + op.dst + j] = sget(op.src + j); }
            }
        }
        workgroupBarrier();
    }
}
