// gaussian/mixture_nll_grad.wgsl — gradient of the mixture negative log-likelihood of one data
// action per state with respect to the experts (the EM warm start's expert step), gates constant.
//
// Math: lp_z = log g_z + log N_z(a_r); log_q[r] = logsumexp_z lp_z; ρ_z = exp(lp_z − log_q);
//   loss = −1/R Σ_r log_q[r]; with gr = ∇ₐ log N_z = −L⁻ᵀy and y = L⁻¹(a − μ) = −Lᵀgr:
//   d_mean[r,z,i] = ρ_z gr_i / R;  d_chol[r,z,i,j] = ρ_z (gr_i y_j + δ_ij / L_ii) / R for j ≤ i, 0 above.
// Layout: mean [R, Z, D], chol [R, Z, D, D], log_g [R, Z], actions [R, D]; out log_q [R],
// d_mean [R, Z, D], d_chol [R, Z, D, D]. Defines D, Z. One invocation per state r.
// Dispatch: kernels::grid_for(R, WG). Includes gaussian_common.wgsl, mixture_common.wgsl.
// CPU twin: cpu::gaussian::mixture_nll_grad.

struct Params {
    rows: u32, mean_off: u32, chol_off: u32, g_off: u32,
    a_off: u32, q_off: u32, dm_off: u32, dl_off: u32,
    inv_r: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> mean: array<f32>;
@group(0) @binding(1) var<storage, read> chol: array<f32>;
@group(0) @binding(2) var<storage, read> log_g: array<f32>;
@group(0) @binding(3) var<storage, read> actions: array<f32>;
@group(0) @binding(4) var<storage, read_write> log_q: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_chol: array<f32>;
@group(0) @binding(7) var<uniform> u: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let r = linear_group(wid, nwg) * WG + li;
    if (r >= u.rows) {
        return;
    }
    let mix = mixture_lp(r);
    log_q[u.q_off + r] = mix.lse;
    for (var k = 0u; k < Z; k++) {
        let rk = r * Z + k;
        let c = exp(mix.lp[k] - mix.lse) * u.inv_r;
        let gr = log_n(rk, mix.a).grad;
        let lb = u.chol_off + rk * D * D;
        for (var i = 0u; i < D; i++) {
            d_mean[u.dm_off + rk * D + i] = c * gr[i];
        }
        for (var j = 0u; j < D; j++) {
            var y = 0.0;
            for (var t = j; t < D; t++) {
                y -= chol[lb + t * D + j] * gr[t];
            }
            for (var i = 0u; i < D; i++) {
                var v = 0.0;
                if (j <= i) {
                    v = c * gr[i] * y;
                    if (i == j) {
                        v += c / chol[lb + i * D + i];
                    }
                }
                d_chol[u.dl_off + rk * D * D + i * D + j] = v;
            }
        }
    }
}
