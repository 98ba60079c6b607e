// attention/attention_bwd_kv.wgsl — backward, key side: for each (sequence, head, key j)
//   dk_j = scale Σ_{i≥j} dS_ij q_i,  dv_j = Σ_{i≥j} drop_ij P_ij dO_i,
// recomputing P_ij from lse and dS_ij with Δ_i from attention_bwd_q.wgsl.
//
// Layout: attention_common.wgsl. Dispatch: kernels::grid_for(batch·heads·tokens, WG).
// CPU twin: cpu::attention::attention_bwd (dk, dv).

@group(0) @binding(0) var<storage, read> q: array<V>;
@group(0) @binding(1) var<storage, read> k: array<V>;
@group(0) @binding(2) var<storage, read> v: array<V>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> delta: array<f32>;
@group(0) @binding(5) var<storage, read> d_o: array<V>;
@group(0) @binding(6) var<storage, read_write> dk: array<V>;
@group(0) @binding(7) var<storage, read_write> dv: array<V>;
@group(0) @binding(8) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let id = linear_group(wid, nwg) * WG + li;
    if (id >= p.batch * p.heads * p.tokens) {
        return;
    }
    let j = id % p.tokens;
    let h = (id / p.tokens) % p.heads;
    let b = id / (p.tokens * p.heads);
    let ka = row_at(b, j, h);
    var kv: array<V, HDV>;
    var vv: array<V, HDV>;
    for (var d = 0u; d < HDV; d++) {
        kv[d] = k[ka + d];
        vv[d] = v[ka + d];
    }
    var ak: array<V, HDV>;
    var av: array<V, HDV>;
    for (var i = j; i < p.tokens; i++) {
        let qa = row_at(b, i, h);
        let row = (b * p.heads + h) * p.tokens + i;
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HDV; d++) {
            s += vsum(q[qa + d] * kv[d]);
            dp += vsum(d_o[qa + d] * vv[d]);
        }
        let pij = exp(p.scale * s - lse[row]);
        let mult = drop_mult(b, h, i, j);
        let ds = pij * (mult * dp - delta[row]);
        for (var d = 0u; d < HDV; d++) {
            ak[d] += ds * q[qa + d];
            av[d] += mult * pij * d_o[qa + d];
        }
    }
    for (var d = 0u; d < HDV; d++) {
        dk[ka + d] = p.scale * ak[d];
        dv[ka + d] = av[d];
    }
}
