// copy/copy_strided.wgsl — copies (ACC 0) or adds (ACC 1) a 4-D strided block:
//   dst[d_off + Σ i_k·ds_k] (+)= src[s_off + Σ i_k·ss_k]  for i ∈ dims.
// This one kernel implements slice, concat, transpose/permute and the contiguous copies
// behind reshapes of views, and (with ACC) their backward passes.
//
// Index decomposition: strided_index.wgsl. Blocks with a contiguous, 4-aligned last axis run
// copy_strided_vec4.wgsl instead.
// Dispatch: kernels::grid_for(Π dims, WG) — one invocation per element, in row-major order
// of dims (so a contiguous destination is written contiguously).
// CPU twin: cpu::copy::copy_strided.

struct Params { dims: vec4<u32>, ss: vec4<u32>, ds: vec4<u32>, n: u32, s_off: u32, d_off: u32, _p: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_group(wid, nwg) * WG + li;
    if (e >= p.n) {
        return;
    }
    let at = strided_at(e, p.dims, p.ss, p.ds);
    let si = p.s_off + at.x;
    let di = p.d_off + at.y;
    if (ACC == 1u) {
        dst[di] += src[si];
    } else {
        dst[di] = src[si];
    }
}
