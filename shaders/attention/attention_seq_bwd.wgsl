// attention/attention_seq_bwd.wgsl — causal multi-head attention backward for short sequences:
// one invocation per (sequence, head) loads q, k, v, dO (and O for Δ) of its NT tokens once and
// produces dq, dk and dv together:
//   Δ_i = dO_i·O_i,  P_ij = exp(scale·q_i·k_j − lse_i),  dS_ij = P_ij (drop_ij·dO_i·v_j − Δ_i),
//   dq_i = scale Σ_{j≤i} dS_ij k_j,  dk_j = scale Σ_{i≥j} dS_ij q_i,  dv_j = Σ_{i≥j} drop_ij P_ij dO_i,
// summing in the orders of attention_bwd_q.wgsl and attention_bwd_kv.wgsl (same results)
// without their repeated loads or the Δ scratch.
//
// Layout: attention_common.wgsl. Dispatch: kernels::grid_for(batch·heads, WG). Defines: HD, VW
// (load width, with its width library), NT (= tokens).
// CPU twin: cpu::attention::attention_bwd.

@group(0) @binding(0) var<storage, read> q: array<V>;
@group(0) @binding(1) var<storage, read> k: array<V>;
@group(0) @binding(2) var<storage, read> v: array<V>;
@group(0) @binding(3) var<storage, read> o: array<V>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> d_o: array<V>;
@group(0) @binding(6) var<storage, read_write> dq: array<V>;
@group(0) @binding(7) var<storage, read_write> dk: array<V>;
@group(0) @binding(8) var<storage, read_write> dv: array<V>;
@group(0) @binding(9) var<uniform> p: Params;

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
    var qq: array<array<V, HDV>, NT>;
    var kk: array<array<V, HDV>, NT>;
    var vv: array<array<V, HDV>, NT>;
    var gg: array<array<V, HDV>, NT>;
    var dl: array<f32, NT>;
    var ls: array<f32, NT>;
    for (var t = 0u; t < NT; t++) {
        let a = row_at(b, t, h);
        var x = 0.0;
        for (var d = 0u; d < HDV; d++) {
            qq[t][d] = q[a + d];
            kk[t][d] = k[a + d];
            vv[t][d] = v[a + d];
            gg[t][d] = d_o[a + d];
            x += vsum(gg[t][d] * o[a + d]);
        }
        dl[t] = x;
        ls[t] = lse[(b * p.heads + h) * p.tokens + t];
    }
    var aq: array<array<V, HDV>, NT>;
    var ak: array<array<V, HDV>, NT>;
    var av: array<array<V, HDV>, NT>;
    // Constant trip counts (the causal bound is a test inside) let both loops unroll, so every
    // array index is a constant: a bound j ≤ i keeps the inner loop rolled and sends the
    // per-token arrays to scratch memory (per-lane loads on llvmpipe, ≈ 3× slower).
    for (var i = 0u; i < NT; i++) {
        for (var j = 0u; j < NT; j++) {
            if (j > i) {
                continue;
            }
            var s = 0.0;
            var dp = 0.0;
            for (var d = 0u; d < HDV; d++) {
                s += vsum(qq[i][d] * kk[j][d]);
                dp += vsum(gg[i][d] * vv[j][d]);
            }
            let pij = exp(p.scale * s - ls[i]);
            let mult = drop_mult(b, h, i, j);
            let ds = pij * (mult * dp - dl[i]);
            for (var d = 0u; d < HDV; d++) {
                aq[i][d] += ds * kk[j][d];
                ak[j][d] += ds * qq[i][d];
                av[j][d] += mult * pij * gg[i][d];
            }
        }
    }
    for (var t = 0u; t < NT; t++) {
        let a = row_at(b, t, h);
        for (var d = 0u; d < HDV; d++) {
            dq[a + d] = p.scale * aq[t][d];
            dk[a + d] = p.scale * ak[t][d];
            dv[a + d] = av[t][d];
        }
    }
}
