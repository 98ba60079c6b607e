// matmul/operand_a_texture.wgsl — operand A of gemm_sg8.wgsl read through its buffer's texture
// mirror (device::Access::Texture, common/linear_texture.wgsl): lda(i) is the operand's vec4 i.
// For read-mostly operands (the parameters: one mirror copy per optimiser step serves every
// product that reads them); on llvmpipe a texel fetch is one vector gather where a storage
// load is a per-lane scalar loop. A library (binding 0, no entry point). CPU twin: a slice read.

@group(0) @binding(0) var a_tex: texture_2d<f32>;

fn lda(i: u32) -> vec4<f32> {
    return tex4(a_tex, i);
}
