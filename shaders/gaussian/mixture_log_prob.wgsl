// gaussian/mixture_log_prob.wgsl — mixture log-density of one action per state and the gradient
// of the VDD gating cross-entropy (spec §2.5) against that action's responsibilities.
//
// Math: lp_z = log g_z + log N_z(a_r); log_q[r] = logsumexp_z lp_z;
//   d_log_g[r,z] = −exp(lp_z − log_q[r]) · w_norm   (w_norm = 1/(R·Z), responsibilities constant).
// Layout: mean [R, Z, D], chol [R, Z, D, D], log_g [R, Z], actions [R, D]; out log_q [R],
// d_log_g [R, Z]. Defines D, Z. One invocation per state r.
// Dispatch: kernels::grid_for(R, WG). Includes gaussian_common.wgsl, mixture_common.wgsl.
// CPU twin: cpu::gaussian::mixture_log_prob.

struct Params {
    rows: u32, mean_off: u32, chol_off: u32, g_off: u32,
    a_off: u32, q_off: u32, dg_off: u32, w_norm: f32,
}

@group(0) @binding(0) var<storage, read> mean: array<f32>;
@group(0) @binding(1) var<storage, read> chol: array<f32>;
@group(0) @binding(2) var<storage, read> log_g: array<f32>;
@group(0) @binding(3) var<storage, read> actions: array<f32>;
@group(0) @binding(4) var<storage, read_write> log_q: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_log_g: array<f32>;
@group(0) @binding(6) var<uniform> u: Params;

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
        d_log_g[u.dg_off + r * Z + k] = -exp(mix.lp[k] - mix.lse) * u.w_norm;
    }
}
