// attention/attention_bwd_q.wgsl — backward, query side: for each (sequence, head, query i)
//   Δ_i = dO_i·O_i,  P_ij = exp(scale·q_i·k_j − lse_i),  dS_ij = P_ij (drop_ij·dO_i·v_j − Δ_i),
//   dq_i = scale Σ_{j≤i} dS_ij k_j;  also stores Δ_i for attention_bwd_kv.wgsl.
//
// Layout: attention_common.wgsl. Dispatch: kernels::grid_for(batch·heads·tokens, WG).
// CPU twin: cpu::attention::attention_bwd (dq).

@group(0) @binding(0) var<storage, read> q: array<V>;
@group(0) @binding(1) var<storage, read> k: array<V>;
@group(0) @binding(2) var<storage, read> v: array<V>;
@group(0) @binding(3) var<storage, read> o: array<V>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> d_o: array<V>;
@group(0) @binding(6) var<storage, read_write> dq: array<V>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

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
    var gv: array<V, HDV>;
    var dl = 0.0;
    for (var d = 0u; d < HDV; d++) {
        qv[d] = q[qa + d];
        gv[d] = d_o[qa + d];
        dl += vsum(gv[d] * o[qa + d]);
    }
    let ls = lse[(b * p.heads + h) * p.tokens + i];
    var acc: array<V, HDV>;
    for (var j = 0u; j <= i; j++) {
        let ka = row_at(b, j, h);
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HDV; d++) {
            s += vsum(qv[d] * k[ka + d]);
            dp += vsum(gv[d] * v[ka + d]);
        }
        let pij = exp(p.scale * s - ls);
        let ds = pij * (drop_mult(b, h, i, j) * dp - dl);
        for (var d = 0u; d < HDV; d++) { acc[d] += ds * k[ka + d]; }
    }
    for (var d = 0u; d < HDV; d++) { dq[qa + d] = p.scale * acc[d]; }
    delta[(b * p.heads + h) * p.tokens + i] = dl;
}
