// norm/layer_norm_bwd.wgsl — input gradient of LayerNorm:
//   g = dy·γ, x̂ = (x − μ)·rstd, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)).
//
// Layout: x, dy, dx [rows, n]; gamma [n]; stats = [mean (rows), rstd (rows)] from the forward.
// Define ACC: 1 adds dx to what the dx buffer holds (the gradient of x gathered so far), 0
// overwrites it.
// Dispatch: kernels::grid_for(rows, WG) — one invocation per row.
// CPU twin: cpu::layer_norm::layer_norm_bwd (dx part; ACC: followed by a sum).

struct Params { rows: u32, n: u32, x_off: u32, g_off: u32, s_off: u32, dy_off: u32, dx_off: u32, _p0: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let r = linear_group(wid, nwg) * WG + li;
    if (r >= p.rows) {
        return;
    }
    let mu = stats[p.s_off + r];
    let rs = stats[p.s_off + p.rows + r];
    let xb = p.x_off + r * p.n;
    let gb = p.dy_off + r * p.n;
    var sg = 0.0;
    var sgx = 0.0;
    for (var i = 0u; i < p.n; i++) {
        let g = dy[gb + i] * gamma[p.g_off + i];
        sg += g;
        sgx += g * (x[xb + i] - mu) * rs;
    }
    let mg = sg / f32(p.n);
    let mgx = sgx / f32(p.n);
    let db = p.dx_off + r * p.n;
    for (var i = 0u; i < p.n; i++) {
        let xh = (x[xb + i] - mu) * rs;
        let v = rs * (dy[gb + i] * gamma[p.g_off + i] - mg - xh * mgx);
        if (ACC == 1u) {
            dx[db + i] += v;
        } else {
            dx[db + i] = v;
        }
    }
}
