// probe/copy.wgsl — memory bandwidth probe for tools/peak: dst[i] = src[i] as vec4, n vec4s
// (bytes moved = 2·16·n).
//
// Dispatch: kernels::grid_for(n, WG) — one invocation per vec4.
// CPU twin: a slice copy (tools/peak checks the copy).

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i < p.n) {
        dst[i] = src[i];
    }
}
