// gaussian/chol_fill.wgsl — lower Cholesky factors from a head's raw outputs: the k raw values
// of matrix r fill its lower triangle row by row (FULL = 1, k = d(d+1)/2) or its diagonal
// (FULL = 0, k = d); a diagonal entry becomes softplus(raw + shift) + floor, an off-diagonal
// one stays raw, every other entry is 0. One pass in place of a selection-matrix product and
// the masked elementwise ops around it.
//
// Layout: raw [n, k], out [n, d, d] (row-major), contiguous from their offsets.
// Dispatch: kernels::grid_for(n, WG) — one invocation per matrix.
// CPU twin: cpu::gaussian::chol_fill.

struct Params { n: u32, d: u32, raw_off: u32, out_off: u32, shift: f32, floor: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> raw: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let r = linear_group(wid, nwg) * WG + li;
    if (r >= p.n) {
        return;
    }
    let k = select(p.d, p.d * (p.d + 1u) / 2u, FULL == 1u);
    let rb = p.raw_off + r * k;
    let ob = p.out_off + r * p.d * p.d;
    var s = 0u;
    for (var i = 0u; i < p.d; i++) {
        for (var j = 0u; j < p.d; j++) {
            var v = 0.0;
            if (j == i) {
                v = softplus_f(raw[rb + s] + p.shift) + p.floor;
                s++;
            } else if (j < i && FULL == 1u) {
                v = raw[rb + s];
                s++;
            }
            out[ob + i * p.d + j] = v;
        }
    }
}
