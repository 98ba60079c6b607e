// norm/layer_norm_bwd_vec4.wgsl — layer_norm_bwd.wgsl (same maths) with vec4 rows:
//   g = dy·γ, x̂ = (x − μ)·rstd, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)).
//
// Layout: x, dy, dx [rows, n4] vec4; gamma [n4] vec4; stats [mean; rstd] f32.
// Define N4: the fixed row width in vec4s, or 0 (p.n4), as in layer_norm_vec4.wgsl. Define ACC:
// 1 adds dx to what the dx buffer holds (the gradient of x gathered so far, e.g. through the
// residual path: one pass instead of the gradient, then a sum), 0 overwrites it.
// Dispatch: kernels::grid_for(rows, WG) — one invocation per row.
// CPU twin: cpu::layer_norm::layer_norm_bwd (dx part; ACC: followed by a sum).

struct Params { rows: u32, n4: u32, x_off4: u32, g_off4: u32, s_off: u32, dy_off4: u32, dx_off4: u32, _p0: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gamma: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dx: array<vec4<f32>>;
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
    let n4 = select(p.n4, N4, N4 > 0u);
    let xb = p.x_off4 + r * n4;
    let gb = p.dy_off4 + r * n4;
    // With a fixed width, dy·γ and x − μ of the row are kept from the first pass for the second
    // (same expressions, so the same results, as the rows read twice).
    var gs: array<vec4<f32>, max(N4, 1u)>;
    var xs: array<vec4<f32>, max(N4, 1u)>;
    var sg = vec4<f32>(0.0);
    var sgx = vec4<f32>(0.0);
    for (var i = 0u; i < n4; i++) {
        let g = dy[gb + i] * gamma[p.g_off4 + i];
        let xc = x[xb + i] - mu;
        if (N4 > 0u) {
            gs[i] = g;
            xs[i] = xc;
        }
        sg += g;
        sgx += g * xc * rs;
    }
    let n = f32(4u * n4);
    let mg = (sg.x + sg.y + sg.z + sg.w) / n;
    let mgx = (sgx.x + sgx.y + sgx.z + sgx.w) / n;
    let db = p.dx_off4 + r * n4;
    for (var i = 0u; i < n4; i++) {
        var g: vec4<f32>;
        var xc: vec4<f32>;
        if (N4 > 0u) {
            g = gs[i];
            xc = xs[i];
        } else {
            g = dy[gb + i] * gamma[p.g_off4 + i];
            xc = x[xb + i] - mu;
        }
        let xh = xc * rs;
        let v = rs * (g - mg - xh * mgx);
        if (ACC == 1u) {
            dx[db + i] += v;
        } else {
            dx[db + i] = v;
        }
    }
}
