// elementwise/unary_ops.wgsl — the unary functions and their derivatives (a library included
// by unary.wgsl, unary_bwd.wgsl and, for fused activations, the GEMM kernels). OP is a define
// chosen by the launcher, so each pipeline keeps one branch after constant folding. Codes and maths match cpu::elementwise::Unary.
//
// p0, p1: the op's scalar parameters (scale / added constant / clamp bounds).

fn unary_f(x: f32, p0: f32, p1: f32) -> f32 {
    return unary_by_code(OP, x, p0, p1);
}

// unary_f with the op chosen at run time (kernels that apply several activations).
fn unary_by_code(op: u32, x: f32, p0: f32, p1: f32) -> f32 {
    switch op {
        case 0u: { return -x; }
        case 1u: { return exp(x); }
        case 2u: { return log(x); }
        case 3u: { return sqrt(x); }
        case 4u: { return x * x; }
        case 5u: { return 1.0 / x; }
        case 6u: { return tanh_f(x); }
        case 7u: { return sigmoid_f(x); }
        case 8u: { return softplus_f(x); }
        case 9u: { return max(x, 0.0); }
        case 10u: { return 0.5 * x * (1.0 + erf_approx(x * INV_SQRT_2)); }
        case 11u: { return 0.5 * x * (1.0 + tanh_f(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))); }
        case 12u: { return x * sigmoid_f(x); }
        case 13u: { return x * tanh_f(softplus_f(x)); }
        case 14u: { return abs(x); }
        case 15u: { return x * p0; }
        case 16u: { return x + p0; }
        case 17u: { return min(max(x, p0), p1); }
        default: { return x; }
    }
}

fn unary_df(x: f32, p0: f32, p1: f32) -> f32 {
    switch OP {
        case 0u: { return -1.0; }
        case 1u: { return exp(x); }
        case 2u: { return 1.0 / x; }
        case 3u: { return 0.5 / sqrt(x); }
        case 4u: { return 2.0 * x; }
        case 5u: { return -1.0 / (x * x); }
        case 6u: { let t = tanh_f(x); return 1.0 - t * t; }
        case 7u: { let s = sigmoid_f(x); return s * (1.0 - s); }
        case 8u: { return select(sigmoid_f(x), 1.0, x > 20.0); }
        case 9u: { return select(0.0, 1.0, x > 0.0); }
        case 10u: {
            let cdf = 0.5 * (1.0 + erf_approx(x * INV_SQRT_2));
            let pdf = exp(-0.5 * x * x) * 0.3989422804014327;
            return cdf + x * pdf;
        }
        case 11u: {
            let t = tanh_f(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
            let inner = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner;
        }
        case 12u: { let s = sigmoid_f(x); return s + x * s * (1.0 - s); }
        case 13u: {
            let t = tanh_f(softplus_f(x));
            let dsp = select(sigmoid_f(x), 1.0, x > 20.0);
            return t + x * (1.0 - t * t) * dsp;
        }
        case 14u: { return sign(x); }
        case 15u: { return p0; }
        case 16u: { return 1.0; }
        case 17u: { return select(0.0, 1.0, x >= p0 && x <= p1); }
        default: { return 1.0; }
    }
}
