// probe/fma.wgsl — f32 multiply-add throughput probe for tools/peak: each invocation runs
// NACC independent vec4 chains acc = acc·m + c for `iters` iterations (4·NACC·iters FMAs,
// 8·NACC·iters flops), then writes one sum so nothing is optimised away.
//
// NACC (define) sets the independent chains: enough to hide FMA latency on the adapter.
// Dispatch: (groups, 1, 1) of WG invocations. CPU twin: none needed for the maths
// (tools/peak checks the written sums are finite); the timing is the result.

struct Params { iters: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = f32(gid.x) * 1e-9;
    var acc: array<vec4<f32>, NACC>;
    for (var i = 0u; i < NACC; i++) {
        acc[i] = vec4<f32>(x + f32(i), x, 2.0 * x, 3.0 * x);
    }
    let m = vec4<f32>(0.9999 + x);
    let c = vec4<f32>(1e-7);
    for (var it = 0u; it < p.iters; it++) {
        for (var i = 0u; i < NACC; i++) {
            acc[i] = fma(acc[i], m, c);
        }
    }
    var s = vec4<f32>(0.0);
    for (var i = 0u; i < NACC; i++) {
        s += acc[i];
    }
    out[gid.x % arrayLength(&out)] = s.x + s.y + s.z + s.w;
}
