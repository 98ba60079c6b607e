// reduce/softmax.wgsl — row-wise softmax (OP 0: y = exp(x − lse)) or log-softmax
// (OP 1: y = x − lse), lse = m + log Σ exp(x − m) with m the row max.
//
// Layout: x, y [rows, n] from their offsets.
// Dispatch: kernels::grid_for(rows, WG) — one invocation per row (three passes over it).
// CPU twin: cpu::reduce::softmax.

struct Params { rows: u32, n: u32, x_off: u32, y_off: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

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
    var m = NEG_INF;
    for (var i = 0u; i < p.n; i++) {
        m = max(m, x[xb + i]);
    }
    var s = 0.0;
    for (var i = 0u; i < p.n; i++) {
        s += exp(x[xb + i] - m);
    }
    let lse = m + log(s);
    for (var i = 0u; i < p.n; i++) {
        let v = x[xb + i] - lse;
        y[yb + i] = select(exp(v), v, OP == 1u);
    }
}
