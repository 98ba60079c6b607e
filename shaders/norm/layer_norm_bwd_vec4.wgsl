// norm/layer_norm_bwd_vec4.wgsl — layer_norm_bwd.wgsl (same maths) with vec4 rows:
//   g = dy·γ, x̂ = (x − μ)·rstd, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)).
//
// Layout: x, dy, dx [rows, n4] vec4; gamma [n4] vec4; stats [mean; rstd] f32.
// Dispatch: kernels::grid_for(rows, WG) — one invocation per row.
// CPU twin: cpu::layer_norm::layer_norm_bwd (dx part).

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
    let xb = p.x_off4 + r * p.n4;
    let gb = p.dy_off4 + r * p.n4;
    var sg = vec4<f32>(0.0);
    var sgx = vec4<f32>(0.0);
    for (var i = 0u; i < p.n4; i++) {
        let g = dy[gb + i] * gamma[p.g_off4 + i];
        sg += g;
        sgx += g * (x[xb + i] - mu) * rs;
    }
    let n = f32(4u * p.n4);
    let mg = (sg.x + sg.y + sg.z + sg.w) / n;
    let mgx = (sgx.x + sgx.y + sgx.z + sgx.w) / n;
    let db = p.dx_off4 + r * p.n4;
    for (var i = 0u; i < p.n4; i++) {
        let xh = (x[xb + i] - mu) * rs;
        dx[db + i] = rs * (dy[gb + i] * gamma[p.g_off4 + i] - mg - xh * mgx);
    }
}
