// attention/width4.wgsl — the load width of the attention kernels (a library): their q, k, v,
// o, dO, dq, dk, dv bindings are arrays of V, 4 float(s) per load. The launcher includes the
// widest of width1/width2/width4 dividing the head dim and defines VW = 4 to match; vsum adds
// one V's components.

alias V = vec4<f32>;

fn vsum(x: V) -> f32 {
    return (x.x + x.y) + (x.z + x.w);
}
