// common/linear_texture.wgsl — reading a storage buffer through its texture mirror (a binding
// declared device::Access::Texture): the buffer's vec4 i is texel (i % 4096, i / 4096) of an
// rgba32float texture_2d (device::TEXTURE_ROW = 4096 texels per row), so tex4 returns the
// buffer's floats 4i … 4i + 3 and tex1 its float i. Indices past the buffer read zeros (texel
// fetches out of range return 0 under robust access; callers stay in range).
// Why: llvmpipe turns a storage load into a per-lane scalar loop with a bounds check per
// component, and a texel fetch into one vector gather, several times cheaper for weights that
// every dispatch streams. A library: no bindings, no entry point. CPU twin: none (plain reads).

fn tex4(t: texture_2d<f32>, i: u32) -> vec4<f32> {
    return textureLoad(t, vec2<u32>(i & 4095u, i >> 12u), 0);
}

fn tex1(t: texture_2d<f32>, i: u32) -> f32 {
    return tex4(t, i >> 2u)[i & 3u];
}
