// reduce/sum_leading.wgsl — one pass of a column sum over row chunks:
//   y[c, j] = Σ_{r ∈ [c·chunk, min((c+1)·chunk, rows))} x[r, j]   for x: [rows, n].
// The launcher repeats passes (rows → ceil(rows/chunk) → … → 1), so the sum over all rows is a
// fixed tree: deterministic, no atomics, and parallel even when n is small.
//
// Layout: x from x_off, y [ceil(rows/chunk), n] from y_off.
// ACC = 1 adds the sums to y instead of overwriting it (gradient accumulation).
// Dispatch: kernels::grid_for(ceil(rows/chunk) · n, WG) — one invocation per output element;
// consecutive invocations take consecutive columns.
// CPU twin: cpu::reduce::sum_leading (which sums rows in order; results agree to rounding).

struct Params { rows: u32, n: u32, chunk: u32, x_off: u32, y_off: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_group(wid, nwg) * WG + li;
    let chunks = (p.rows + p.chunk - 1u) / p.chunk;
    if (e >= chunks * p.n) {
        return;
    }
    let c = e / p.n;
    let j = e % p.n;
    let r1 = min((c + 1u) * p.chunk, p.rows);
    var s = 0.0;
    for (var r = c * p.chunk; r < r1; r++) {
        s += x[p.x_off + r * p.n + j];
    }
    if (ACC == 1u) {
        y[p.y_off + e] = y[p.y_off + e] + s;
    } else {
        y[p.y_off + e] = s;
    }
}
