// matmul/operand_b_texture.wgsl — operand B of gemm_sg8.wgsl read through its buffer's texture
// mirror (device::Access::Texture, common/linear_texture.wgsl): ldb(i) is the operand's vec4 i.
// For read-mostly operands (the parameters: one mirror copy per optimiser step serves every
// product that reads them); on llvmpipe a texel fetch is one vector gather where a storage
// load is a per-lane scalar loop. A library (binding 1, no entry point). CPU twin: a slice read.

@group(0) @binding(1) var b_tex: texture_2d<f32>;

fn ldb(i: u32) -> vec4<f32> {
    return tex4(b_tex, i);
}
