// copy/copy_strided_vec4.wgsl — copy_strided.wgsl four elements at a time, for blocks whose
// innermost dimension is contiguous in both layouts (stride 1, length a multiple of 4) and whose
// other strides and offsets are multiples of 4 (slices, concats and permutes that keep the last
// axis: token assembly, head splits):
//   dst4[d_off + Σ i_k·ds_k] (+)= src4[s_off + Σ i_k·ss_k]  for i ∈ dims,
// with dims[3], strides and offsets in vec4s (the launcher divides them by 4; ss_3 = ds_3 = 1).
// One vector load and store and one index decomposition per 4 elements: the decomposition's
// integer divisions have no vector instruction on CPU adapters and dominate the scalar kernel.
//
// Dispatch: kernels::grid_for(Π dims, WG) — one invocation per vec4, in row-major order of dims.
// CPU twin: cpu::copy::copy_strided.

struct Params { dims: vec4<u32>, ss: vec4<u32>, ds: vec4<u32>, n: u32, s_off: u32, d_off: u32, _p: u32 }

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
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
