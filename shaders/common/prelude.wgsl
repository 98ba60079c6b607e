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

// erf(x) to ~4.5e-7 absolute error: an odd rational minimax fit on [-4, 4] (Eigen's and XLA's f32
// erf; beyond ±4 erf is ±1 in f32), 12 multiply-adds and one division, no exponential.
// CPU twin: cpu::fastmath::erf (the same formula; libm erf in f64, tests allow the difference).
fn erf_approx(x_in: f32) -> f32 {
    let x = clamp(x_in, -4.0, 4.0);
    let x2 = x * x;
    var p = -2.72614225801306e-10 * x2 + 2.77068142495902e-08;
    p = p * x2 - 2.10102402082508e-06;
    p = p * x2 - 5.69250639462346e-05;
    p = p * x2 - 7.34990630326855e-04;
    p = p * x2 - 2.95459980854025e-03;
    p = p * x2 - 1.60960333262415e-02;
    var q = -1.45660718464996e-05 * x2 - 2.13374055278905e-04;
    q = q * x2 - 1.68282697438203e-03;
    q = q * x2 - 7.37332916720468e-03;
    q = q * x2 - 1.42647390514189e-02;
    return x * p / q;
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
