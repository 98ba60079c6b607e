// common/width2.wgsl — the load width of kernels written over V (a library): their vector
// bindings are arrays of V, 2 floats per load, with define VW = 2 naming the variant.
// Attention includes the widest of width1/2/4 dividing the head dim; copy/copy_strided.wgsl,
// optim/adam.wgsl and ema.wgsl run width4 over 4-aligned ranges and width1 otherwise. vsum
// adds one V's components.

alias V = vec2<f32>;

fn vsum(x: V) -> f32 {
    return x.x + x.y;
}
