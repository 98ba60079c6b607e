// matmul/gemm_tile.wgsl — batched GEMM with register tiles and no shared memory: the general
// kernel (any shape, both transposes, bias, alpha, split-K). Maths and layout: gemm_common.wgsl.
//
// Each invocation computes a TM×TN block of C (defines; they size register arrays, which WGSL
// overrides cannot). A workgroup is WGX×WGY invocations (overrides, default 8×8), covering
// (WGY·TM) rows × (WGX·TN) columns; lanes run along columns so B reads coalesce on GPUs.
// Loads clamp their row/column into range, so edge tiles compute junk that is never stored.
// Dispatch: (ceil(n / (WGX·TN)), ceil(m / (WGY·TM)), batch · splits).
// CPU twin: cpu::gemm::gemm.

override WGX: u32 = 8u;
override WGY: u32 = 8u;

@compute @workgroup_size(WGX, WGY, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let bi = wid.z % p.batch;
    let split = wid.z / p.batch;
    let k0 = split * p.k_split;
    let k1 = min(k0 + p.k_split, p.k);
    let row0 = (wid.y * WGY + lid.y) * TM;
    let col0 = (wid.x * WGX + lid.x) * TN;
    let a_base = p.a_off + bi * p.sa;
    let b_base = p.b_off + bi * p.sb;
    var rows: array<u32, TM>;
    var cols: array<u32, TN>;
    for (var i = 0u; i < TM; i++) { rows[i] = min(row0 + i, p.m - 1u); }
    for (var j = 0u; j < TN; j++) { cols[j] = min(col0 + j, p.n - 1u); }
    var acc: array<array<f32, TN>, TM>;
    for (var kk = k0; kk < k1; kk++) {
        var av: array<f32, TM>;
        var bv: array<f32, TN>;
        for (var i = 0u; i < TM; i++) { av[i] = load_a(a_base, rows[i], kk); }
        for (var j = 0u; j < TN; j++) { bv[j] = load_b(b_base, kk, cols[j]); }
        for (var i = 0u; i < TM; i++) {
            for (var j = 0u; j < TN; j++) {
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
            if (row0 + i < p.m && col0 + j < p.n) {
                store_c(wid.z, row0 + i, col0 + j, acc[i][j]);
            }
        }
    }
}
