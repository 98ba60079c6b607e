// attention/attention.wgsl — causal multi-head scaled-dot-product attention, forward:
//   s_ij = scale·q_i·k_j (j ≤ i), lse_i = log Σ_j exp(s_ij), o_i = Σ_j drop_ij·exp(s_ij − lse_i)·v_j.
// One pass with an online softmax (running max and sum, rescaled accumulator), so no score
// storage: any number of tokens works; the engine targets ≤ 64.
//
// Layout: attention_common.wgsl. Dispatch: kernels::grid_for(batch·heads·tokens, WG) — one
// invocation per (sequence, head, query): all (batch, head) pairs in one dispatch.
// CPU twin: cpu::attention::attention.

@group(0) @binding(0) var<storage, read> q: array<V>;
@group(0) @binding(1) var<storage, read> k: array<V>;
@group(0) @binding(2) var<storage, read> v: array<V>;
@group(0) @binding(3) var<storage, read_write> o: array<V>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let id = linear_group(wid, nwg) * WG + li;
    if (id >= p.batch * p.heads * p.tokens) {
        return;
    }
    let i = id % p.tokens;
    let h = (id / p.tokens) % p.heads;
    let b = id / (p.tokens * p.heads);
    let qa = row_at(b, i, h);
    var qv: array<V, HDV>;
    for (var d = 0u; d < HDV; d++) { qv[d] = q[qa + d]; }
    var acc: array<V, HDV>;
    var m = NEG_INF;
    var l = 0.0;
    for (var j = 0u; j <= i; j++) {
        let ka = row_at(b, j, h);
        var s = 0.0;
        for (var d = 0u; d < HDV; d++) { s += vsum(qv[d] * k[ka + d]); }
        s *= p.scale;
        let ce = online_step(&m, &l, s);
        let w = ce.y * drop_mult(b, h, i, j);
        for (var d = 0u; d < HDV; d++) { acc[d] = acc[d] * ce.x + w * v[ka + d]; }
    }
    for (var d = 0u; d < HDV; d++) { o[qa + d] = acc[d] / l; }
    lse[(b * p.heads + h) * p.tokens + i] = m + log(l);
}
