// diffusion/step.wgsl — fused "precondition + denoise + sampler step" and score read-outs.
//
// Math (MODE define; c = u.c0..c7, aux per element or per row of `width` for MODE 3/4):
//   0 VE step:    D = c0·x + c1·F; d = (x − D)/c2; y = x + d·(c3 − c2) + c4·aux
//   1 VE Heun:    as 0 for d and x₂ = x + d·(c3 − c2); D₂ = c5·x₂ + c6·aux; d₂ = (x₂ − D₂)/c3;
//                 y = x + ½(d + d₂)(c3 − c2)
//   2 VP step:    x₀ = clip((x − c1·F)/c0, ±c2 if c2 > 0); ε' = (x − c0·x₀)/c1;
//                 y = c3·x₀ + c4·x + c5·ε' + c6·aux
//   3 VE score:   σ = aux[i / width]; y = (c_skip(σ)·x + c_out(σ)·F − x)/σ², σ_data = c7
//   4 VP score:   y = −F / aux[i / width]
// Layout: x, f, y [n]; aux [n] or [n / width]; contiguous from their offsets.
// Dispatch: kernels::grid_for(n, WG).
// CPU twin: cpu::diffusion::step.

struct Params {
    n: u32, width: u32, x_off: u32, f_off: u32, a_off: u32, y_off: u32, pad0: u32, pad1: u32,
    c0: f32, c1: f32, c2: f32, c3: f32, c4: f32, c5: f32, c6: f32, c7: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> f: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= u.n) {
        return;
    }
    let xi = x[u.x_off + i];
    let fi = f[u.f_off + i];
    var out = 0.0;
    if (MODE == 0u) {
        let d = (xi - (u.c0 * xi + u.c1 * fi)) / u.c2;
        out = xi + d * (u.c3 - u.c2) + u.c4 * aux[u.a_off + i];
    } else if (MODE == 1u) {
        let d = (xi - (u.c0 * xi + u.c1 * fi)) / u.c2;
        let x2 = xi + d * (u.c3 - u.c2);
        let d2 = (x2 - (u.c5 * x2 + u.c6 * aux[u.a_off + i])) / u.c3;
        out = xi + 0.5 * (d + d2) * (u.c3 - u.c2);
    } else if (MODE == 2u) {
        var x0 = (xi - u.c1 * fi) / u.c0;
        if (u.c2 > 0.0) {
            x0 = clamp(x0, -u.c2, u.c2);
        }
        let e = (xi - u.c0 * x0) / u.c1;
        out = u.c3 * x0 + u.c4 * xi + u.c5 * e + u.c6 * aux[u.a_off + i];
    } else if (MODE == 3u) {
        let s = aux[u.a_off + i / u.width];
        let s2 = s * s;
        let sd2 = u.c7 * u.c7;
        let skip = sd2 / (s2 + sd2);
        let co = s * u.c7 / sqrt(s2 + sd2);
        out = (skip * xi + co * fi - xi) / s2;
    } else {
        out = -fi / aux[u.a_off + i / u.width];
    }
    y[u.y_off + i] = out;
}
