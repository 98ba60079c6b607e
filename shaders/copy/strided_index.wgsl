// copy/strided_index.wgsl — the index decomposition shared by copy_strided.wgsl and
// copy_strided_vec4.wgsl (a library, no bindings).

// Offsets (source, destination) of element e of the row-major block dims in layouts with
// strides ss and ds. Axes of length 1 are skipped (uniform branch) and the outermost index is
// what remains, so a 2-D block costs one integer division (scalarised on CPU adapters).
fn strided_at(e: u32, dims: vec4<u32>, ss: vec4<u32>, ds: vec4<u32>) -> vec2<u32> {
    var rem = e;
    var at = vec2<u32>(0u);
    for (var d = 3; d >= 1; d--) {
        if (dims[d] > 1u) {
            let q = rem / dims[d];
            let idx = rem - q * dims[d];
            rem = q;
            at += idx * vec2<u32>(ss[d], ds[d]);
        }
    }
    return at + rem * vec2<u32>(ss[0], ds[0]);
}
