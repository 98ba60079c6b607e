// probe/texture_copy.wgsl — texture-fetch bandwidth probe for tools/peak, and the check of
// buffer texture mirrors (device::Access::Texture): dst[i] = src's vec4 i read through the
// mirror (common/linear_texture.wgsl), n vec4s (bytes moved = 2·16·n).
//
// Dispatch: kernels::grid_for(n, WG) — one invocation per vec4.
// CPU twin: a slice copy (tests/device.rs, tools/peak).

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i < p.n) {
        dst[i] = tex4(src, i);
    }
}
