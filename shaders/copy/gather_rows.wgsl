// copy/gather_rows.wgsl — y[i, c] = x[idx[i], c] for rows of width n.
//
// Layout: x [rows, n] from x_off; idx [count] u32 from i_off; y [count, n] from y_off.
// Dispatch: kernels::grid_for(count·n, WG) — one invocation per output element.
// CPU twin: cpu::copy::gather_rows.

struct Params { count: u32, n: u32, x_off: u32, i_off: u32, y_off: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_group(wid, nwg) * WG + li;
    if (e >= p.count * p.n) {
        return;
    }
    let i = e / p.n;
    let c = e % p.n;
    y[p.y_off + e] = x[p.x_off + idx[p.i_off + i] * p.n + c];
}
