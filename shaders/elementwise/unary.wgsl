// elementwise/unary.wgsl — y[i] = f(x[i]) for one of the unary ops (OP define).
//
// Layout: x and y contiguous, n elements, starting at x_off / y_off.
// Dispatch: kernels::grid_for(n, WG) — one invocation per element.
// WG (override, default 256): plenty of invocations per workgroup so llvmpipe's 8-wide SIMD
// and real GPUs' warps are both full.
// CPU twin: cpu::elementwise::unary.

struct Params { n: u32, x_off: u32, y_off: u32, _pad: u32, p0: f32, p1: f32, _pad2: vec2<f32> }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= p.n) {
        return;
    }
    y[p.y_off + i] = unary_f(x[p.x_off + i], p.p0, p.p1);
}
