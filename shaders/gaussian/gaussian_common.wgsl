// gaussian/gaussian_common.wgsl — log N(x; μ_k, L_k L_kᵀ) and its gradient from a Cholesky factor.
//
// Included by expert_grad.wgsl, mixture_log_prob.wgsl and mixture_nll_grad.wgsl, which declare the module-scope
// bindings `mean` ([R, Z, D]) and `chol` ([R, Z, D, D], lower, row-major) and the uniform `u`
// with `mean_off`/`chol_off`. D (action dimension) is a define.
// Math: y = L⁻¹(x − μ), log N = −½‖y‖² − Σ log L_ii − ½ D log 2π, ∇ₓ log N = −L⁻ᵀ y.
// Dispatch: none (library). CPU twin: cpu::gaussian::component.

struct LogN {
    lp: f32,
    grad: array<f32, D>,
}

fn log_n(rk: u32, x: array<f32, D>) -> LogN {
    let lb = u.chol_off + rk * D * D;
    let mb = u.mean_off + rk * D;
    var y: array<f32, D>;
    var out: LogN;
    var quad = 0.0;
    var logdet = 0.0;
    for (var i = 0u; i < D; i++) {
        var s = x[i] - mean[mb + i];
        for (var k = 0u; k < i; k++) {
            s -= chol[lb + i * D + k] * y[k];
        }
        let lii = chol[lb + i * D + i];
        y[i] = s / lii;
        quad += y[i] * y[i];
        logdet += log(lii);
    }
    for (var ii = 0u; ii < D; ii++) {
        let i = D - 1u - ii;
        var s = -y[i];
        for (var k = i + 1u; k < D; k++) {
            s -= chol[lb + k * D + i] * out.grad[k];
        }
        out.grad[i] = s / chol[lb + i * D + i];
    }
    out.lp = -0.5 * quad - logdet - 0.5 * f32(D) * log(2.0 * PI);
    return out;
}
