// attention/attention_seq_bwd.wgsl — causal multi-head attention backward for short sequences:
// one invocation per (sequence, head) loads q, k, v, dO (and O for Δ) of its NT tokens once and
// produces dq, dk and dv together:
//   Δ_i = dO_i·O_i,  P_ij = exp(scale·q_i·k_j − lse_i),  dS_ij = P_ij (drop_ij·dO_i·v_j − Δ_i),
//   dq_i = scale Σ_{j≤i} dS_ij k_j,  dk_j = scale Σ_{i≥j} dS_ij q_i,  dv_j = Σ_{i≥j} drop_ij P_ij dO_i,
// summing in the orders of attention_bwd_q.wgsl and attention_bwd_kv.wgsl (same results)
// without their repeated loads or the Δ scratch.
//
// Layout: attention_common.wgsl. Dispatch: kernels::grid_for(batch·heads, WG). Defines: HD, VW
// (load width, with its width library), NT (= tokens, at most 16: the query calls;
// kernels::attention::SEQ_MAX_TOKENS).
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
    var t: Head;
    for (var i = 0u; i < NT; i++) {
        let a = row_at(b, i, h);
        var x = 0.0;
        for (var d = 0u; d < HDV; d++) {
            t.q[i][d] = q[a + d];
            t.k[i][d] = k[a + d];
            t.v[i][d] = v[a + d];
            t.g[i][d] = d_o[a + d];
            x += vsum(t.g[i][d] * o[a + d]);
        }
        t.dl[i] = x;
        t.ls[i] = lse[(b * p.heads + h) * p.tokens + i];
    }
    // One call per query token, with a constant index (see query): loops over i with the per-token
    // arrays indexed by i would have to be unrolled by the driver.
    if (NT > 0u) { query(&t, 0u, b, h); }
    if (NT > 1u) { query(&t, 1u, b, h); }
    if (NT > 2u) { query(&t, 2u, b, h); }
    if (NT > 3u) { query(&t, 3u, b, h); }
    if (NT > 4u) { query(&t, 4u, b, h); }
    if (NT > 5u) { query(&t, 5u, b, h); }
    if (NT > 6u) { query(&t, 6u, b, h); }
    if (NT > 7u) { query(&t, 7u, b, h); }
    if (NT > 8u) { query(&t, 8u, b, h); }
    if (NT > 9u) { query(&t, 9u, b, h); }
    if (NT > 10u) { query(&t, 10u, b, h); }
    if (NT > 11u) { query(&t, 11u, b, h); }
    if (NT > 12u) { query(&t, 12u, b, h); }
    if (NT > 13u) { query(&t, 13u, b, h); }
    if (NT > 14u) { query(&t, 14u, b, h); }
    if (NT > 15u) { query(&t, 15u, b, h); }
    for (var i = 0u; i < NT; i++) {
        let a = row_at(b, i, h);
        for (var d = 0u; d < HDV; d++) {
            dq[a + d] = p.scale * t.aq[i][d];
            dk[a + d] = p.scale * t.ak[i][d];
            dv[a + d] = t.av[i][d];
        }
    }
}

// The head's tokens in registers: q, k, v, dO and Δ, lse per token, and the sums for dq, dk, dv.
struct Head {
    q: array<array<V, HDV>, NT>,
    k: array<array<V, HDV>, NT>,
    v: array<array<V, HDV>, NT>,
    g: array<array<V, HDV>, NT>,
    dl: array<f32, NT>,
    ls: array<f32, NT>,
    aq: array<array<V, HDV>, NT>,
    ak: array<array<V, HDV>, NT>,
    av: array<array<V, HDV>, NT>,
}

// Query token i's pairs with the keys j ≤ i (i a constant at every call): adds dS_ij k_j to its
// dq sum and dS_ij q_i, drop_ij P_ij dO_i to key j's dk and dv sums. The key loop has a constant
// trip count with the causal test inside, so it unrolls (a bound j ≤ i would keep it rolled and
// send the per-token arrays to scratch memory: per-lane loads on llvmpipe, ≈ 3× slower); the
// query loop is these calls because Mesa 25's llvmpipe declines to unroll it around the key
// loop for 11 tokens (teacher step: 72 against 26 ms on Mesa 22.3).
fn query(t: ptr<function, Head>, i: u32, b: u32, h: u32) {
    for (var j = 0u; j < NT; j++) {
        if (j > i) {
            continue;
        }
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HDV; d++) {
            s += vsum((*t).q[i][d] * (*t).k[j][d]);
            dp += vsum((*t).g[i][d] * (*t).v[j][d]);
        }
        let pij = exp(p.scale * s - (*t).ls[i]);
        let mult = drop_mult(b, h, i, j);
        let ds = pij * (mult * dp - (*t).dl[i]);
        for (var d = 0u; d < HDV; d++) {
            (*t).aq[i][d] += ds * (*t).k[j][d];
            (*t).ak[j][d] += ds * (*t).q[i][d];
            (*t).av[j][d] += mult * pij * (*t).g[i][d];
        }
    }
}
