// matmul/operand_b_buffer.wgsl — operand B of gemm_sg8.wgsl read from its storage buffer:
// ldb(i) is the operand's vec4 i. A library (binding 1, no entry point). CPU twin: a slice read.

@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;

fn ldb(i: u32) -> vec4<f32> {
    return b4[i];
}
