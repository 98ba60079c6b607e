// elementwise/binary.wgsl — y = a ∘ b with NumPy broadcasting (OP define: 0 add, 1 sub,
// 2 mul, 3 div).
//
// Layout: y contiguous over the 4-D frame `dims`; element (i0,i1,i2,i3) of the frame reads
// a[a_off + Σ i_d·sa[d]] and b[b_off + Σ i_d·sb[d]] (stride 0 = broadcast). The frame comes
// from cpu::elementwise::Broadcast, which collapses dims so that an unbroadcast operand is
// one contiguous run. FULL=1 specialises the case of two unbroadcast operands (no index math).
// Dispatch: kernels::grid_for(n, WG) — one invocation per output element.
// CPU twin: cpu::elementwise::binary.

struct Params { dims: vec4<u32>, sa: vec4<u32>, sb: vec4<u32>, n: u32, a_off: u32, b_off: u32, y_off: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256u;

fn op_f(u: f32, v: f32) -> f32 {
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
    if (i >= p.n) {
        return;
    }
    if (FULL == 1u) {
        y[p.y_off + i] = op_f(a[p.a_off + i], b[p.b_off + i]);
        return;
    }
    var rem = i;
    var ia = p.a_off;
    var ib = p.b_off;
    for (var d = 3; d >= 0; d--) {
        let idx = rem % p.dims[d];
        rem = rem / p.dims[d];
        ia += idx * p.sa[d];
        ib += idx * p.sb[d];
    }
    y[p.y_off + i] = op_f(a[ia], b[ib]);
}
