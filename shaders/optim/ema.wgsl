// optim/ema.wgsl — exponential moving average of parameters:
//   shadow ← shadow − (1 − decay)·(shadow − p).
//
// Layout: shadow (read-write) and p, n elements of V from their offsets, in V units (V and the
// define VW as in adam.wgsl: vec4s over 4-aligned ranges, floats for the rest).
// Dispatch: kernels::grid_for(n, WG) — one invocation per V.
// CPU twin: cpu::optim::ema_step.

struct Params { n: u32, s_off: u32, p_off: u32, one_minus_decay: f32 }

@group(0) @binding(0) var<storage, read> p: array<V>;
@group(0) @binding(1) var<storage, read_write> shadow: array<V>;
@group(0) @binding(2) var<uniform> u: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= u.n) {
        return;
    }
    let s = shadow[u.s_off + i];
    shadow[u.s_off + i] = s - u.one_minus_decay * (s - p[u.p_off + i]);
}
