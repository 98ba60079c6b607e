// reduce/reduce_rows.wgsl — y[r] = reduce(x[r, 0..n]) for each row (OP define: 0 sum, 1 mean,
// 2 max, 3 logsumexp = m + log Σ exp(x − m) with m the row max).
//
// Layout: x is [rows, n] from x_off, y is [rows] from y_off.
// Dispatch: kernels::grid_for(rows, WG) — one invocation per row, a sequential loop over the
// row (deterministic; rows are many and short in the models this serves).
// CPU twin: cpu::reduce::reduce.

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
    let base = p.x_off + r * p.n;
    var out = 0.0;
    if (OP == 2u || OP == 3u) {
        var m = NEG_INF;
        for (var i = 0u; i < p.n; i++) {
            m = max(m, x[base + i]);
        }
        out = m;
        if (OP == 3u) {
            var s = 0.0;
            for (var i = 0u; i < p.n; i++) {
                s += exp(x[base + i] - m);
            }
            out = m + log(s);
        }
    } else {
        var s = 0.0;
        for (var i = 0u; i < p.n; i++) {
            s += x[base + i];
        }
        out = select(s, s / f32(p.n), OP == 1u);
    }
    y[p.y_off + r] = out;
}
