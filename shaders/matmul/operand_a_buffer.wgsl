// matmul/operand_a_buffer.wgsl — operand A of gemm_sg8.wgsl read from its storage buffer:
// lda(i) is the operand's vec4 i. A library (binding 0, no entry point). CPU twin: a slice read.

@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;

fn lda(i: u32) -> vec4<f32> {
    return a4[i];
}
