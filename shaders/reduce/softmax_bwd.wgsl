// reduce/softmax_bwd.wgsl — gradient of softmax.wgsl from its output y:
// OP 0 (softmax): dx = y ⊙ (dy − Σ dy ⊙ y); OP 1 (log-softmax): dx = dy − exp(y) · Σ dy.
//
// Layout: y, dy, dx [rows, n] from their offsets.
// Dispatch: kernels::grid_for(rows, WG) — one invocation per row.
// CPU twin: cpu::reduce::softmax_bwd.

struct Params { rows: u32, n: u32, y_off: u32, dy_off: u32, dx_off: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let r = linear_group(wid, nwg) * WG + li;
    if (r >= p.rows) {
        return;
    }
    let yb = p.y_off + r * p.n;
    let gb = p.dy_off + r * p.n;
    let db = p.dx_off + r * p.n;
    var s = 0.0;
    for (var i = 0u; i < p.n; i++) {
        s += select(dy[gb + i] * y[yb + i], dy[gb + i], OP == 1u);
    }
    for (var i = 0u; i < p.n; i++) {
        let yv = y[yb + i];
        dx[db + i] = select(yv * (dy[gb + i] - s), dy[gb + i] - exp(yv) * s, OP == 1u);
    }
}
