// copy/copy_strided.wgsl — copies (ACC 0) or adds (ACC 1) a 4-D strided block:
//   dst[d_off + Σ i_k·ds_k] (+)= src[s_off + Σ i_k·ss_k]  for i ∈ dims.
// This one kernel implements slice, concat, transpose/permute and the contiguous copies
// behind reshapes of views, and (with ACC) their backward passes.
//
// Elements are V (common/width1.wgsl: floats, or width4.wgsl with define VW = 4: vec4s). Blocks
// whose last axis is contiguous in both layouts and 4 long, with every other stride and both
// offsets multiples of 4 (slices, concats and permutes that keep the last axis), run as vec4s:
// the launcher divides dims[3], strides and offsets by 4 (ss_3 = ds_3 = 1). One vector load and
// store and one index decomposition per 4 elements: the decomposition's integer divisions have
// no vector instruction on CPU adapters and dominate the float kernel.
// Dispatch: kernels::grid_for(Π dims, WG) — one invocation per V, in row-major order of dims
// (so a contiguous destination is written contiguously).
// CPU twin: cpu::copy::copy_strided.

struct Params { dims: vec4<u32>, ss: vec4<u32>, ds: vec4<u32>, n: u32, s_off: u32, d_off: u32, _p: u32 }

@group(0) @binding(0) var<storage, read> src: array<V>;
@group(0) @binding(1) var<storage, read_write> dst: array<V>;
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

// Offsets (source, destination) of element e of the row-major block dims in layouts with
// strides ss and ds. Axes of length 1 are skipped (uniform branch) and the outermost index is
// what remains, so a 2-D block costs one integer division (scalarised on CPU adapters).
fn strided_at(e: u32, dims: vec4<u32>, ss: vec4<u32>, ds: vec4<u32>) -> vec2<u32> {
    var rem = e;
    var at = vec2<u32>(0u);
    for (var d = 3; d >= 1; d--) {
        if (dims[d] > 1u) {
            let q = rem / dims[d];
            let idx = rem - q * dims[d];
            rem = q;
            at += idx * vec2<u32>(ss[d], ds[d]);
        }
    }
    return at + rem * vec2<u32>(ss[0], ds[0]);
}
