// matmul/gemm_scalar.wgsl — scalar A/B/C bindings, element loaders and the output store for gemm_tile.wgsl and
// gemm_shared.wgsl (a library; layout as in gemm_common.wgsl).

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// op(A)[r, kk] of batch entry `base` (caller keeps r < m, kk < k).
fn load_a(base: u32, r: u32, kk: u32) -> f32 {
    if (TRANS_A == 1u) {
        return a[base + kk * p.m + r];
    }
    return a[base + r * p.k + kk];
}

// op(B)[kk, col] of batch entry `base` (caller keeps kk < k, col < n).
fn load_b(base: u32, kk: u32, col: u32) -> f32 {
    if (TRANS_B == 1u) {
        return b[base + col * p.k + kk];
    }
    return b[base + kk * p.n + col];
}

// Writes one finished output element C[z][r, col] (see finish in gemm_common.wgsl).
fn store_c(z: u32, r: u32, col: u32, v: f32) {
    c[p.c_off + z * p.m * p.n + r * p.n + col] = finish(z, col, v);
}
