// reduce/sum_leading_vec4.wgsl — one pass of the chunked column sum of sum_leading.wgsl, four
// columns per invocation through vec4 bindings:
//   y[c, j] = Σ_{r ∈ chunk c} x[r, j]   for x: [rows, n], n % 4 == 0.
//
// Layout: x from x_off4, y [ceil(rows/chunk), n] from y_off4 (vec4 offsets).
// ACC = 1 adds the sums to y instead of overwriting it (gradient accumulation).
// Dispatch: kernels::grid_for(ceil(rows/chunk) · n/4, WG).
// CPU twin: cpu::reduce::sum_leading.

struct Params { rows: u32, n4: u32, chunk: u32, x_off4: u32, y_off4: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_group(wid, nwg) * WG + li;
    let chunks = (p.rows + p.chunk - 1u) / p.chunk;
    if (e >= chunks * p.n4) {
        return;
    }
    let c = e / p.n4;
    let j = e % p.n4;
    var s = vec4<f32>(0.0);
    for (var r = c * p.chunk; r < min((c + 1u) * p.chunk, p.rows); r++) {
        s += x[p.x_off4 + r * p.n4 + j];
    }
    if (ACC == 1u) {
        y[p.y_off4 + e] = y[p.y_off4 + e] + s;
    } else {
        y[p.y_off4 + e] = s;
    }
}
