// gaussian/expert_grad.wgsl — closed-form VDD expert M-step gradient (spec §2.4).
//
// Math: a = μ_z + L_z ε_v; log q̃(z|a) = log ḡ_z + log N_z(a) − logsumexp_k(log ḡ_k + log N_k(a))
// with detached parameters; g = score + [∇ log N_z(a) − Σ_k q̃(k|a) ∇ log N_k(a)] (bracket only
// when USE_RESP = 1); with w = ḡ_z/(R·Z):
//   d_mean[r,z] = −w · mean_v g,   d_chol[r,z,i,j] = −w · (mean_v g_i ε_j + δ_ij/L_ii) for j ≤ i, 0 above;
//   log_resp[r,z] = mean_v log q̃(z|a_v).
// Layout: mean [R, Z, D], chol [R, Z, D, D], log_g [R, Z], eps and score [R, Z, V, D] (contiguous
// from their offsets). Defines D (dimension), Z (experts), USE_RESP. One invocation per (r, z)
// loops over its V samples in order (deterministic, no atomics).
// Dispatch: kernels::grid_for(R·Z, WG).
// CPU twin: cpu::gaussian::expert_grad.

struct Params {
    rows: u32, samples: u32, mean_off: u32, chol_off: u32,
    g_off: u32, eps_off: u32, score_off: u32, dm_off: u32,
    dl_off: u32, lr_off: u32, w_norm: f32, inv_v: f32,
}

@group(0) @binding(0) var<storage, read> mean: array<f32>;
@group(0) @binding(1) var<storage, read> chol: array<f32>;
@group(0) @binding(2) var<storage, read> log_g: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<storage, read> score: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_chol: array<f32>;
@group(0) @binding(7) var<storage, read_write> log_resp: array<f32>;
@group(0) @binding(8) var<uniform> u: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let rz = linear_group(wid, nwg) * WG + li;
    if (rz >= u.rows * Z) {
        return;
    }
    let r = rz / Z;
    let e = rz % Z;
    let mb = u.mean_off + rz * D;
    let lb = u.chol_off + rz * D * D;
    var gm: array<f32, D>;
    var gl: array<f32, D * D>;
    var lr_sum = 0.0;
    for (var v = 0u; v < u.samples; v++) {
        let row = (rz * u.samples + v) * D;
        var ep: array<f32, D>;
        var a: array<f32, D>;
        for (var i = 0u; i < D; i++) {
            ep[i] = eps[u.eps_off + row + i];
        }
        for (var i = 0u; i < D; i++) {
            var s = mean[mb + i];
            for (var j = 0u; j <= i; j++) {
                s += chol[lb + i * D + j] * ep[j];
            }
            a[i] = s;
        }
        var lp: array<f32, Z>;
        var grads: array<f32, Z * D>;
        var m = NEG_INF;
        for (var k = 0u; k < Z; k++) {
            let n = log_n(r * Z + k, a);
            lp[k] = log_g[u.g_off + r * Z + k] + n.lp;
            for (var i = 0u; i < D; i++) {
                grads[k * D + i] = n.grad[i];
            }
            m = max(m, lp[k]);
        }
        var total = 0.0;
        for (var k = 0u; k < Z; k++) {
            total += exp(lp[k] - m);
        }
        let lse = m + log(total);
        lr_sum += lp[e] - lse;
        for (var i = 0u; i < D; i++) {
            var g = score[u.score_off + row + i];
            if (USE_RESP == 1u) {
                g += grads[e * D + i];
                for (var k = 0u; k < Z; k++) {
                    g -= exp(lp[k] - lse) * grads[k * D + i];
                }
            }
            gm[i] += g;
            for (var j = 0u; j <= i; j++) {
                gl[i * D + j] += g * ep[j];
            }
        }
    }
    let w = -exp(log_g[u.g_off + rz]) * u.w_norm;
    for (var i = 0u; i < D; i++) {
        d_mean[u.dm_off + rz * D + i] = w * gm[i] * u.inv_v;
        for (var j = 0u; j < D; j++) {
            var v = 0.0;
            if (j <= i) {
                v = gl[i * D + j] * u.inv_v;
            }
            if (i == j) {
                v += 1.0 / chol[lb + i * D + i];
            }
            d_chol[u.dl_off + rz * D * D + i * D + j] = w * v;
        }
    }
    log_resp[u.lr_off + rz] = lr_sum * u.inv_v;
}
