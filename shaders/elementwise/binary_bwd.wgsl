// elementwise/binary_bwd.wgsl — gradient of one operand of y = a ∘ b (OP define as in
// binary.wgsl; SIDE define: 0 for a, 1 for b):
//   d[j] = Σ_{output elements i that read operand element j} dy[i] · ∂(a∘b)/∂side at i.
//
// Layout: the frame of binary.wgsl. The operand's own element j decomposes over its frame
// dims (dims[d] where its stride is nonzero, 1 elsewhere); the sum runs over the dims where
// it is broadcast, in increasing output order (deterministic; no atomics).
// Dispatch: kernels::grid_for(operand elements, WG) — one invocation per operand element.
// CPU twin: cpu::elementwise::binary_bwd.

struct Params { dims: vec4<u32>, sa: vec4<u32>, sb: vec4<u32>, n: u32, a_off: u32, b_off: u32, dy_off: u32, d_off: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> d: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256u;

fn partial(u: f32, v: f32) -> f32 {
    switch OP {
        case 0u: { return 1.0; }
        case 1u: { return select(1.0, -1.0, SIDE == 1u); }
        case 2u: { return select(v, u, SIDE == 1u); }
        default: { return select(1.0 / v, -u / (v * v), SIDE == 1u); }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let j = linear_group(wid, nwg) * WG + li;
    if (j >= p.n) {
        return;
    }
    let own = select(p.sa, p.sb, SIDE == 1u);
    // Decompose j over the operand's own dims; broadcast dims get extent 1 here.
    var idx = vec4<u32>(0u);
    var ext = vec4<u32>(1u);
    var rem = j;
    for (var dd = 3; dd >= 0; dd--) {
        if (own[dd] != 0u) {
            idx[dd] = rem % p.dims[dd];
            rem = rem / p.dims[dd];
        } else {
            ext[dd] = p.dims[dd];
        }
    }
    var acc = 0.0;
    for (var i0 = 0u; i0 < ext[0]; i0++) {
        for (var i1 = 0u; i1 < ext[1]; i1++) {
            for (var i2 = 0u; i2 < ext[2]; i2++) {
                for (var i3 = 0u; i3 < ext[3]; i3++) {
                    let q = idx + vec4<u32>(i0, i1, i2, i3);
                    let o = ((q.x * p.dims.y + q.y) * p.dims.z + q.z) * p.dims.w + q.w;
                    let u = a[p.a_off + dot(q, p.sa)];
                    let v = b[p.b_off + dot(q, p.sb)];
                    acc += dy[p.dy_off + o] * partial(u, v);
                }
            }
        }
    }
    d[p.d_off + j] = acc;
}
