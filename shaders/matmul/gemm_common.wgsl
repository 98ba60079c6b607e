// matmul/gemm_common.wgsl — parameters and operand access shared by the GEMM kernels
// (a library included by gemm_tile.wgsl, gemm_shared.wgsl and gemm_sg8.wgsl). Bindings 0, 1
// and 3 (A, B and C) are declared by the kernels: scalar in gemm_scalar.wgsl, vec4 in
// gemm_sg8.wgsl.
//
// C[z] = f(alpha · op(A[b]) · op(B[b]) (+ bias)) where z = split · batch + b indexes the output
// block: with split-K (splits > 1) every split writes its partial product over
// k ∈ [split·k_split, (split+1)·k_split) to its own block and a reduction sums the splits.
// A[b] is [m, k] (TRANS_A = 0) or [k, m] (TRANS_A = 1) at a_off + b·sa; B[b] is [k, n] or [n, k]
// at b_off + b·sb (batch stride 0 broadcasts); C blocks are [m, n] at c_off + z·m·n; bias [n].
// c_block is the elements of one C block: m·n, or (m + 1)·n for gemm_sg8.wgsl's bias-row products
// (in the stored orientation).

struct Params {
    m: u32, n: u32, k: u32, batch: u32,
    a_off: u32, b_off: u32, c_off: u32, bias_off: u32,
    sa: u32, sb: u32, k_split: u32, splits: u32,
    alpha: f32, c_block: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// The finished value of one output element of block z: f(alpha · v + bias[bias_col]), the bias
// in the blocks of the first k-split only (so the split reduction adds it once). f is the fused
// activation unary_f of elementwise/unary_ops.wgsl (define OP; the launcher passes OP = NO_ACT,
// whose default branch is the identity, for plain products and for every split-K product).
// C itself (binding 3) is declared by the kernels: scalar in gemm_scalar.wgsl, vec4 in
// gemm_sg8.wgsl.
fn finish(z: u32, bias_col: u32, v: f32) -> f32 {
    var out = p.alpha * v;
    if (HAS_BIAS == 1u && z < p.batch) {
        out += bias[p.bias_off + bias_col];
    }
    return unary_f(out, 0.0, 0.0);
}
