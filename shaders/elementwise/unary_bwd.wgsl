// elementwise/unary_bwd.wgsl — dx[i] = dy[i] · f'(x[i]) for one of the unary ops (OP define).
//
// Layout: x, dy, dx contiguous, n elements, at x_off / dy_off / dx_off.
// Dispatch: kernels::grid_for(n, WG) — one invocation per element.
// CPU twin: cpu::elementwise::unary_bwd.

struct Params { n: u32, x_off: u32, dy_off: u32, dx_off: u32, p0: f32, p1: f32, _pad: vec2<f32> }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= p.n) {
        return;
    }
    dx[p.dx_off + i] = dy[p.dy_off + i] * unary_df(x[p.x_off + i], p.p0, p.p1);
}
