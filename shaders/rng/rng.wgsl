// rng/rng.wgsl — fills y with random numbers from the Philox stream (key, offset):
// DIST 0: uniform in [lo, hi); DIST 1: normal with mean lo and std hi (Box–Muller on the
// block's word pairs (0,1) and (2,3)).
//
// Layout: y[y_off + i] for i < n; element i comes from block i/4, word i%4.
// Dispatch: kernels::grid_for(ceil(n/4), WG) — one invocation per Philox block (4 outputs).
// CPU twin: cpu::rng::uniform / cpu::rng::normal (same bits; normals differ by the
// adapter's log/cos/sin rounding only).

struct Params { n: u32, y_off: u32, key: vec2<u32>, offset: vec2<u32>, lo: f32, hi: f32 }

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let blk = linear_group(wid, nwg) * WG + li;
    if (blk * 4u >= p.n) {
        return;
    }
    let w = philox(vec4<u32>(blk, p.offset.x, p.offset.y, 0u), p.key);
    var v: vec4<f32>;
    if (DIST == 0u) {
        v = p.lo + (p.hi - p.lo) * vec4<f32>(to_unit(w.x), to_unit(w.y), to_unit(w.z), to_unit(w.w));
    } else {
        let r0 = sqrt(-2.0 * log(to_open_unit(w.x)));
        let r1 = sqrt(-2.0 * log(to_open_unit(w.z)));
        let t0 = 2.0 * PI * to_unit(w.y);
        let t1 = 2.0 * PI * to_unit(w.w);
        v = p.lo + p.hi * vec4<f32>(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
    }
    for (var j = 0u; j < 4u; j++) {
        if (blk * 4u + j < p.n) {
            y[p.y_off + blk * 4u + j] = v[j];
        }
    }
}
