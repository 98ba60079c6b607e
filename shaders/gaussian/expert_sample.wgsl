// gaussian/expert_sample.wgsl — reparameterised expert samples a[r,z,v] = μ[r,z] + L[r,z]·ε[r,z,v].
//
// Layout: mean [R, Z, D], chol [R, Z, D, D] (lower, row-major), eps and out [R, Z, V, D],
// contiguous from their offsets; D is a define. One invocation per (r, z, v).
// Dispatch: kernels::grid_for(R·Z·V, WG).
// CPU twin: cpu::gaussian::expert_sample.

struct Params { n: u32, samples: u32, mean_off: u32, chol_off: u32, eps_off: u32, out_off: u32 }

@group(0) @binding(0) var<storage, read> mean: array<f32>;
@group(0) @binding(1) var<storage, read> chol: array<f32>;
@group(0) @binding(2) var<storage, read> eps: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= u.n) {
        return;
    }
    let rz = i / u.samples;
    let mb = u.mean_off + rz * D;
    let lb = u.chol_off + rz * D * D;
    let eb = u.eps_off + i * D;
    for (var r = 0u; r < D; r++) {
        var a = mean[mb + r];
        for (var c = 0u; c <= r; c++) {
            a += chol[lb + r * D + c] * eps[eb + c];
        }
        out[u.out_off + i * D + r] = a;
    }
}
