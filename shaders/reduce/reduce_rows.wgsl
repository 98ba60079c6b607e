// reduce/reduce_rows.wgsl — one pass of a chunked row reduction (OP define: 0 sum, 1 mean,
// 2 max, 3 logsumexp = m + log Σ exp(x − m) with m the maximum):
//   y[r·chunks + c] = reduce(x[r, c·chunk .. min((c + 1)·chunk, n)]),  chunks = max(⌈n/chunk⌉, 1)
// the mean dividing the chunk's sum by count (the whole row's length when the launcher runs a
// chunked row in two passes: partial sums, then their mean over count).
//
// Rows longer than one chunk take several passes because llvmpipe ends every loop after 65535
// iterations in total per invocation (LP_MAX_TGSI_LOOP_ITERATIONS), silently: one invocation
// must never loop over an unbounded row. kernels::reduce::reduce_rows keeps chunk ≤ 4096.
//
// Layout: x is [rows, n] from x_off, y [rows, chunks] from y_off.
// Dispatch: kernels::grid_for(rows · chunks, WG) — one invocation per (row, chunk), a
// sequential loop over the chunk (deterministic).
// CPU twin: cpu::reduce::reduce.

struct Params { rows: u32, n: u32, x_off: u32, y_off: u32, chunk: u32, count: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

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
    let base = p.x_off + r * p.n;
    let i0 = (e % chunks) * p.chunk;
    let i1 = min(i0 + p.chunk, p.n);
    var out = 0.0;
    if (OP == 2u || OP == 3u) {
        var m = NEG_INF;
        for (var i = i0; i < i1; i++) {
            m = max(m, x[base + i]);
        }
        out = m;
        if (OP == 3u) {
            var s = 0.0;
            for (var i = i0; i < i1; i++) {
                s += exp(x[base + i] - m);
            }
            out = m + log(s);
        }
    } else {
        var s = 0.0;
        for (var i = i0; i < i1; i++) {
            s += x[base + i];
        }
        out = select(s, s / f32(p.count), OP == 1u);
    }
    y[p.y_off + e] = out;
}
