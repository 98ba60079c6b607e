// elementwise/unary_bwd_vec4.wgsl — dx = dy · f'(x), four elements per invocation (see
// unary_vec4.wgsl for when the launcher uses it).
//
// Layout: x, dy, dx contiguous, n4 vec4s from their vec4 offsets.
// Dispatch: kernels::grid_for(n4, WG) — one invocation per vec4.
// CPU twin: cpu::elementwise::unary_bwd.

struct Params { n4: u32, x_off4: u32, dy_off4: u32, dx_off4: u32, p0: f32, p1: f32, _pad: vec2<f32> }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= p.n4) {
        return;
    }
    let v = x[p.x_off4 + i];
    let d = vec4<f32>(unary_df(v.x, p.p0, p.p1), unary_df(v.y, p.p0, p.p1), unary_df(v.z, p.p0, p.p1), unary_df(v.w, p.p0, p.p1));
    dx[p.dx_off4 + i] = dy[p.dy_off4 + i] * d;
}
