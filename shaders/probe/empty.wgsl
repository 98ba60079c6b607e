// probe/empty.wgsl — a dispatch that does nothing, for tools/peak's launch-latency probe.
//
// Dispatch: (1, 1, 1). CPU twin: none (nothing is computed).

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(1)
fn main() {
    if (p.n == 12345u) {
        out[0] = 1.0;
    }
}
