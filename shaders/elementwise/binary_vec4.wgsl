// elementwise/binary_vec4.wgsl — y = a ∘ b (OP define as binary.wgsl), four elements per
// invocation, for the two broadcast patterns the models use:
//   MODE 0: a and b unbroadcast (same shape);
//   MODE 1: b is one row of `row4` vec4s repeated along the leading dims (bias-like);
//   MODE 2: a is that row, b unbroadcast.
//
// Layout: y contiguous, n4 vec4s; a, b from their vec4 offsets. The launcher uses this kernel
// when the Broadcast frame matches a mode and every size and offset is a multiple of 4.
// Dispatch: kernels::grid_for(n4, WG) — one invocation per output vec4.
// CPU twin: cpu::elementwise::binary.

struct Params { n4: u32, row4: u32, a_off4: u32, b_off4: u32, y_off4: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;

fn op4(u: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
    switch OP {
        case 0u: { return u + v; }
        case 1u: { return u - v; }
        case 2u: { return u * v; }
        default: { return u / v; }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = linear_group(wid, nwg) * WG + li;
    if (i >= p.n4) {
        return;
    }
    var ia = i;
    var ib = i;
    if (MODE == 1u) {
        ib = i % p.row4;
    } else if (MODE == 2u) {
        ia = i % p.row4;
    }
    y[p.y_off4 + i] = op4(a[p.a_off4 + ia], b[p.b_off4 + ib]);
}
