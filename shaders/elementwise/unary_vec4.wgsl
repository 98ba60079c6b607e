// elementwise/unary_vec4.wgsl — y = f(x) for one of the unary ops (OP define), four elements
// per invocation through vec4 bindings (one buffer access instead of four scalar ones; on
// llvmpipe a 3-4× saving, as every access is a per-lane loop).
//
// Layout: x and y contiguous, n4 = n/4 vec4s from x_off4 / y_off4 (the launcher uses this
// kernel when n and both element offsets are multiples of 4).
// Dispatch: kernels::grid_for(n4, WG) — one invocation per vec4.
// CPU twin: cpu::elementwise::unary.

struct Params { n4: u32, x_off4: u32, y_off4: u32, _pad: u32, p0: f32, p1: f32, _pad2: vec2<f32> }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= p.n4) {
        return;
    }
    let v = x[p.x_off4 + i];
    y[p.y_off4 + i] = vec4<f32>(unary_f(v.x, p.p0, p.p1), unary_f(v.y, p.p0, p.p1), unary_f(v.z, p.p0, p.p1), unary_f(v.w, p.p0, p.p1));
}
