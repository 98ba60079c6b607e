// rng/dropout.wgsl — y[i] = x[i] · keep(i) / (1 − prob), keep(i) = to_unit(word i) ≥ prob of
// the Philox stream (key, offset). Dropout is linear in x, so its backward is this same kernel
// applied to dy with the same stream.
//
// Layout: x, y contiguous, n elements from their offsets.
// Dispatch: kernels::grid_for(n, WG) — one invocation per element.
// CPU twin: cpu::rng::keep (tensor::ops::dropout).

struct Params { n: u32, x_off: u32, y_off: u32, prob: f32, key: vec2<u32>, offset: vec2<u32> }

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
    let keep = to_unit(philox_word(p.key, p.offset, i)) >= p.prob;
    y[p.y_off + i] = select(0.0, x[p.x_off + i] / (1.0 - p.prob), keep);
}
