// norm/layer_norm_bwd_w.wgsl — per-chunk partial sums of the LayerNorm parameter gradients:
//   part[c, j] = Σ_{r ∈ chunk c} dy[r, j]·x̂[r, j]   (dγ),
//   part[c, n + j] = Σ_{r ∈ chunk c} dy[r, j]       (dβ),
// which reduce::sum_leading then sums over chunks (deterministic tree, no atomics).
//
// Layout: x, dy [rows, n]; stats = [mean (rows), rstd (rows)]; part [ceil(rows/chunk), 2n].
// Dispatch: kernels::grid_for(ceil(rows/chunk)·n, WG) — one invocation per (chunk, column).
// CPU twin: cpu::layer_norm::layer_norm_bwd (dgamma, dbeta part).

struct Params { rows: u32, n: u32, chunk: u32, x_off: u32, s_off: u32, dy_off: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let e = linear_group(wid, nwg) * WG + li;
    let chunks = (p.rows + p.chunk - 1u) / p.chunk;
    if (e >= chunks * p.n) {
        return;
    }
    let c = e / p.n;
    let j = e % p.n;
    var sgx = 0.0;
    var sg = 0.0;
    for (var r = c * p.chunk; r < min((c + 1u) * p.chunk, p.rows); r++) {
        let g = dy[p.dy_off + r * p.n + j];
        sgx += g * (x[p.x_off + r * p.n + j] - stats[p.s_off + r]) * stats[p.s_off + p.rows + r];
        sg += g;
    }
    part[c * 2u * p.n + j] = sgx;
    part[c * 2u * p.n + p.n + j] = sg;
}
