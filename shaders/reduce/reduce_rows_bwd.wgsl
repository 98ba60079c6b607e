// reduce/reduce_rows_bwd.wgsl — dx[r, i] = dy[r] · ∂y[r]/∂x[r, i] for reduce_rows.wgsl
// (OP define as there): sum → dy; mean → dy/n; max → dy at the first maximum, 0 elsewhere;
// logsumexp → dy · exp(x − y).
//
// One invocation per (row, chunk of ≤ chunk elements), so no invocation loops over a whole
// long row (llvmpipe's 65535-iteration cap, see reduce_rows.wgsl). For max, an earlier chunk
// holds the row's first maximum iff one of the chunk maxima cm[r, 0..c) equals y[r]
// (cm: reduce_rows.wgsl's max pass over the same chunks; unused when chunks = 1).
//
// Layout: x, dx [rows, n]; y, dy [rows]; cm [rows, chunks]; each from its offset.
// Dispatch: kernels::grid_for(rows · chunks, WG), chunks = max(⌈n/chunk⌉, 1).
// CPU twin: cpu::reduce::reduce_bwd.

struct Params { rows: u32, n: u32, chunk: u32, x_off: u32, y_off: u32, dy_off: u32, dx_off: u32, cm_off: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> cm: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_group(wid, nwg) * WG + li;
    let chunks = max((p.n + p.chunk - 1u) / p.chunk, 1u);
    if (e >= p.rows * chunks) {
        return;
    }
    let r = e / chunks;
    let c = e % chunks;
    let g = dy[p.dy_off + r];
    let yr = y[p.y_off + r];
    let xb = p.x_off + r * p.n;
    let db = p.dx_off + r * p.n;
    var found = false;
    if (OP == 2u) {
        for (var j = 0u; j < c; j++) {
            found = found || cm[p.cm_off + r * chunks + j] == yr;
        }
    }
    for (var i = c * p.chunk; i < min((c + 1u) * p.chunk, p.n); i++) {
        var v = g;
        if (OP == 1u) {
            v = g / f32(p.n);
        } else if (OP == 2u) {
            let hit = !found && x[xb + i] == yr;
            found = found || hit;
            v = select(0.0, g, hit);
        } else if (OP == 3u) {
            v = g * exp(x[xb + i] - yr);
        }
        dx[db + i] = v;
    }
}
