// norm/layer_norm.wgsl — affine LayerNorm over the last dim:
//   μ = mean(x_r), σ² = mean((x_r − μ)²) (biased), rstd = 1/√(σ² + eps),
//   y = (x − μ)·rstd·γ + β; also writes μ and rstd per row for the backward pass.
//
// Layout: x, y [rows, n]; gamma, beta [n]; mean, rstd [rows]; each from its offset.
// Dispatch: kernels::grid_for(rows, WG) — one invocation per row, two-pass variance
// (numerically safer than E[x²] − μ² for the activations of a transformer).
// CPU twin: cpu::layer_norm::layer_norm.

struct Params { rows: u32, n: u32, eps: f32, x_off: u32, g_off: u32, b_off: u32, y_off: u32, s_off: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let r = linear_group(wid, nwg) * WG + li;
    if (r >= p.rows) {
        return;
    }
    let xb = p.x_off + r * p.n;
    let yb = p.y_off + r * p.n;
    var s = 0.0;
    for (var i = 0u; i < p.n; i++) {
        s += x[xb + i];
    }
    let mu = s / f32(p.n);
    var v = 0.0;
    for (var i = 0u; i < p.n; i++) {
        let d = x[xb + i] - mu;
        v += d * d;
    }
    let rs = 1.0 / sqrt(v / f32(p.n) + p.eps);
    for (var i = 0u; i < p.n; i++) {
        y[yb + i] = (x[xb + i] - mu) * rs * gamma[p.g_off + i] + beta[p.b_off + i];
    }
    // stats: mean for all rows, then rstd for all rows.
    stats[p.s_off + r] = mu;
    stats[p.s_off + p.rows + r] = rs;
}
