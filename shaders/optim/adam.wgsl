// optim/adam.wgsl — one Adam step over a flat range of parameters, in PyTorch's operation order
// (torch.optim.Adam, single-tensor path):
//   g ← g + wd·p;  m ← m + (1−β1)·(g − m)   (lerp);  v ← v·β2 + ((1−β2)·g)·g;
//   denom = √v / √(1−β2^t) + eps;  p ← p + (−lr/(1−β1^t)·m) / denom.
// The bias corrections are computed on the host in f64 and passed as f32 scalars.
//
// Layout: p, m, v are read-write, g read-only; n elements of V (common/width1.wgsl: floats, or
// width4.wgsl: vec4s, the same operations per component) from their offsets, in V units.
// Define VW (1 or 4) names the width, so the two variants are distinct pipelines.
// Dispatch: kernels::grid_for(n, WG) — one invocation per V: every parameter in one launch of
// vec4s when the ranges are 4-aligned, plus one of floats for the last n mod 4.
// CPU twin: cpu::optim::adam_step.

struct Params {
    n: u32, p_off: u32, g_off: u32, mv_off: u32,
    step_size: f32, bc2_sqrt: f32, one_minus_beta1: f32, beta2: f32,
    one_minus_beta2: f32, eps: f32, weight_decay: f32, _pad: f32,
}

@group(0) @binding(0) var<storage, read_write> p: array<V>;
@group(0) @binding(1) var<storage, read> g: array<V>;
@group(0) @binding(2) var<storage, read_write> m: array<V>;
@group(0) @binding(3) var<storage, read_write> v: array<V>;
@group(0) @binding(4) var<uniform> u: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= u.n) {
        return;
    }
    let pi = u.p_off + i;
    let mi = u.mv_off + i;
    let pv = p[pi];
    let mv = m[mi];
    var grad = g[u.g_off + i];
    if (u.weight_decay != 0.0) {
        grad = grad + u.weight_decay * pv;
    }
    let mt = mv + u.one_minus_beta1 * (grad - mv);
    let vt = v[mi] * u.beta2 + (u.one_minus_beta2 * grad) * grad;
    m[mi] = mt;
    v[mi] = vt;
    let denom = sqrt(vt) / u.bc2_sqrt + u.eps;
    p[pi] = pv + (-u.step_size * mt) / denom;
}
