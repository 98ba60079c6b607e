// elementwise/fill.wgsl — y[i] = value for n elements from y_off.
//
// Dispatch: kernels::grid_for(n, WG). CPU twin: slice::fill.

struct Params { n: u32, y_off: u32, value: f32, _pad: u32 }

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i < p.n) {
        y[p.y_off + i] = p.value;
    }
}
