// norm/layer_norm_vec4.wgsl — layer_norm.wgsl (same maths and outputs) reading and writing
// rows as vec4s, for rows whose width and offsets are multiples of 4.
//
// Layout: x, y [rows, n4] vec4; gamma, beta [n4] vec4; stats = [mean (rows), rstd (rows)] f32.
// Define N4: the row width in vec4s when the launcher fixes it (widths up to MAX_FIXED_N4 in
// kernels::layer_norm: the loops unroll and the row is loaded once, into registers, instead of
// once per pass — per-lane storage loads dominate on CPU adapters), or 0 (width p.n4, rows
// read per pass).
// Dispatch: kernels::grid_for(rows, WG) — one invocation per row.
// CPU twin: cpu::layer_norm::layer_norm.

struct Params { rows: u32, n4: u32, eps: f32, x_off4: u32, g_off4: u32, b_off4: u32, y_off4: u32, s_off: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gamma: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> beta: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
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
    let n4 = select(p.n4, N4, N4 > 0u);
    let xb = p.x_off4 + r * n4;
    let n = f32(4u * n4);
    var xs: array<vec4<f32>, max(N4, 1u)>;
    var s = vec4<f32>(0.0);
    for (var i = 0u; i < n4; i++) {
        let v = x[xb + i];
        if (N4 > 0u) {
            xs[i] = v;
        }
        s += v;
    }
    let mu = (s.x + s.y + s.z + s.w) / n;
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < n4; i++) {
        let d = row_x(&xs, xb, i) - mu;
        v += d * d;
    }
    let rs = 1.0 / sqrt((v.x + v.y + v.z + v.w) / n + p.eps);
    let yb = p.y_off4 + r * n4;
    for (var i = 0u; i < n4; i++) {
        y[yb + i] = (row_x(&xs, xb, i) - mu) * rs * gamma[p.g_off4 + i] + beta[p.b_off4 + i];
    }
    stats[p.s_off + r] = mu;
    stats[p.s_off + p.rows + r] = rs;
}

// Element i of the row at xb: from the registers the first pass filled (fixed width N4), or
// read again from x.
fn row_x(xs: ptr<function, array<vec4<f32>, max(N4, 1u)>>, xb: u32, i: u32) -> vec4<f32> {
    if (N4 > 0u) {
        return (*xs)[i];
    }
    return x[xb + i];
}
