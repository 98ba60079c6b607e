// gaussian/chol_fill_bwd.wgsl — gradient of chol_fill.wgsl: draw[s] = dl[i, j] for the entry
// (i, j) that slot s fills, times softplus′(raw + shift) on the diagonal (the entries no slot
// fills get no gradient).
//
// Layout: raw, draw [n, k], dl [n, d, d] (row-major), contiguous from their offsets.
// Dispatch: kernels::grid_for(n, WG) — one invocation per matrix.
// CPU twin: cpu::gaussian::chol_fill_bwd.

struct Params { n: u32, d: u32, raw_off: u32, dl_off: u32, draw_off: u32, shift: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> raw: array<f32>;
@group(0) @binding(1) var<storage, read> dl: array<f32>;
@group(0) @binding(2) var<storage, read_write> draw: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let r = linear_group(wid, nwg) * WG + li;
    if (r >= p.n) {
        return;
    }
    let k = select(p.d, p.d * (p.d + 1u) / 2u, FULL == 1u);
    let rb = r * k;
    let lb = p.dl_off + r * p.d * p.d;
    var s = 0u;
    for (var i = 0u; i < p.d; i++) {
        let jlo = select(i, 0u, FULL == 1u);
        for (var j = jlo; j <= i; j++) {
            var g = dl[lb + i * p.d + j];
            if (j == i) {
                let x = raw[p.raw_off + rb + s] + p.shift;
                g *= select(sigmoid_f(x), 1.0, x > 20.0);
            }
            draw[p.draw_off + rb + s] = g;
            s++;
        }
    }
}
