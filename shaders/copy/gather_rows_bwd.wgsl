// copy/gather_rows_bwd.wgsl — gradient of gather_rows: dx[r, c] = Σ_{i: idx[i] = r} dy[i, c],
// summed in index order through the inverse map (CSR: inv_start[r]..inv_start[r+1] into
// inv_list, built on the host), so it is deterministic without atomics.
//
// One pass sums the entries lo .. lo + len of each row's list (ACC = 1 adds them to dx, for
// the passes after the first): llvmpipe ends an invocation's loops after 65535 iterations in
// total, silently, so a row gathered more often than kernels::copy::GATHER_CHUNK times is
// summed over several passes.
//
// Layout: dy [count, n]; inv_start [rows + 1] and inv_list [count] u32 in one buffer
// (inv_list at inv_start's end); dx [rows, n].
// Dispatch: kernels::grid_for(rows·n, WG) — one invocation per dx element.
// CPU twin: cpu::copy::gather_rows_bwd.

struct Params { rows: u32, n: u32, dy_off: u32, dx_off: u32, lo: u32, len: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> inv: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_group(wid, nwg) * WG + li;
    if (e >= p.rows * p.n) {
        return;
    }
    let r = e / p.n;
    let c = e % p.n;
    var s = 0.0;
    let end = inv[r + 1u];
    for (var t = inv[r] + p.lo; t < min(inv[r] + p.lo + p.len, end); t++) {
        s += dy[p.dy_off + inv[p.rows + 1u + t] * p.n + c];
    }
    if (ACC == 1u) {
        dx[p.dx_off + e] = dx[p.dx_off + e] + s;
    } else {
        dx[p.dx_off + e] = s;
    }
}
