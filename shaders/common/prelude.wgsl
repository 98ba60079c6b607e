// common/prelude.wgsl — helpers shared by every kernel.
//
// kernels::compose() prepends this file (WGSL has no #include), then a block of
// `const NAME: u32 = ...;` defines chosen by the launcher, then the kernel file itself.
//
// Conventions (see shaders/README.md): bindings in @group(0) are the storage inputs, then the
// outputs, then the uniform params struct; 1-D launches use the 2-D grid of kernels::grid()
// and recover the workgroup index with linear_group().

const PI: f32 = 3.14159265358979;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const INV_SQRT_2: f32 = 0.7071067811865476;
const NEG_INF: f32 = -3.402823e38;

// Linear workgroup index of a grid from kernels::grid (x ≤ 65535, then y).
fn linear_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// erf(x) to ~1.2e-7 absolute error: Numerical Recipes' erfc Chebyshev fit
// (CPU twin: libm erf; tests allow the difference).
fn erf_approx(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    return select(r - 1.0, 1.0 - r, x >= 0.0);
}

// log(1 + exp(x)) without overflow; matches torch.nn.functional.softplus (threshold 20).
fn softplus_f(x: f32) -> f32 {
    if (x > 20.0) {
        return x;
    }
    return log(1.0 + exp(x));
}

// 1 / (1 + exp(-x)) without overflow.
fn sigmoid_f(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// tanh that stays finite for large |x| (some drivers compute it through exp).
fn tanh_f(x: f32) -> f32 {
    let c = clamp(x, -15.0, 15.0);
    let e = exp(2.0 * c);
    return (e - 1.0) / (e + 1.0);
}
