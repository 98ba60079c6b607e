// attention/attention_seq.wgsl — causal multi-head attention forward for short sequences: one
// invocation per (sequence, head) loads the NT keys and values once and produces every query's
//   o_i = Σ_{j≤i} drop_ij·exp(s_ij − lse_i)·v_j,  s_ij = scale·q_i·k_j,  lse_i = log Σ_{j≤i} exp s_ij,
// with the online softmax and summation order of attention.wgsl (same results), but each key
// and value is read once per head instead of once per later query.
//
// Layout: attention_common.wgsl. Dispatch: kernels::grid_for(batch·heads, WG). Defines: HD, VW
// (load width, with its width library), NT (= tokens).
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
    if (id >= p.batch * p.heads) {
        return;
    }
    let h = id % p.heads;
    let b = id / p.heads;
    var kk: array<array<V, HDV>, NT>;
    var vv: array<array<V, HDV>, NT>;
    for (var t = 0u; t < NT; t++) {
        let a = row_at(b, t, h);
        for (var d = 0u; d < HDV; d++) {
            kk[t][d] = k[a + d];
            vv[t][d] = v[a + d];
        }
    }
    for (var i = 0u; i < NT; i++) {
        let qa = row_at(b, i, h);
        var qv: array<V, HDV>;
        for (var d = 0u; d < HDV; d++) { qv[d] = q[qa + d]; }
        var acc: array<V, HDV>;
        var m = NEG_INF;
        var l = 0.0;
        // A constant trip count (the causal bound tested inside) lets the loop unroll, so kk and
        // vv are indexed by constants (a bound j ≤ i would send them to scratch memory).
        for (var j = 0u; j < NT; j++) {
            if (j > i) {
                continue;
            }
            var s = 0.0;
            for (var d = 0u; d < HDV; d++) { s += vsum(qv[d] * kk[j][d]); }
            s *= p.scale;
            let ce = online_step(&m, &l, s);
            let w = ce.y * drop_mult(b, h, i, j);
            for (var d = 0u; d < HDV; d++) { acc[d] = acc[d] * ce.x + w * vv[j][d]; }
        }
        for (var d = 0u; d < HDV; d++) { o[qa + d] = acc[d] / l; }
        lse[(b * p.heads + h) * p.tokens + i] = m + log(l);
    }
}
