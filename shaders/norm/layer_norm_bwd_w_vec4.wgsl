// norm/layer_norm_bwd_w_vec4.wgsl — layer_norm_bwd_w.wgsl (same partial sums) for four columns
// per invocation:
//   part[c, j] = Σ_{r ∈ chunk c} dy[r, j]·x̂[r, j],  part[c, n + j] = Σ_{r ∈ chunk c} dy[r, j].
//
// Layout: x, dy [rows, n4] vec4; stats [mean; rstd] f32; part [chunks, 2·n4] vec4.
// Dispatch: kernels::grid_for(chunks · n4, WG).
// CPU twin: cpu::layer_norm::layer_norm_bwd (dgamma, dbeta part).

struct Params { rows: u32, n4: u32, chunk: u32, x_off4: u32, s_off: u32, dy_off4: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> part: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_group(wid, nwg) * WG + li;
    let chunks = (p.rows + p.chunk - 1u) / p.chunk;
    if (e >= chunks * p.n4) {
        return;
    }
    let c = e / p.n4;
    let j = e % p.n4;
    var sgx = vec4<f32>(0.0);
    var sg = vec4<f32>(0.0);
    for (var r = c * p.chunk; r < min((c + 1u) * p.chunk, p.rows); r++) {
        let g = dy[p.dy_off4 + r * p.n4 + j];
        sgx += g * (x[p.x_off4 + r * p.n4 + j] - stats[p.s_off + r]) * stats[p.s_off + p.rows + r];
        sg += g;
    }
    part[c * 2u * p.n4 + j] = sgx;
    part[c * 2u * p.n4 + p.n4 + j] = sg;
}
