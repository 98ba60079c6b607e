// gaussian/mixture_common.wgsl — per-expert joint log-densities of one data action and the
// mixture's log-density, shared by mixture_log_prob.wgsl and mixture_nll_grad.wgsl.
//
// Included after gaussian_common.wgsl by kernels that declare the module-scope bindings
// `log_g` ([R, Z]) and `actions` ([R, D]) and the uniform `u` with `g_off`/`a_off`. D and Z
// are defines.
// Math: lp_z = log g_z + log N_z(a_r); lse = logsumexp_z lp_z (max-shifted).
// Dispatch: none (library). CPU twin: cpu::gaussian::mixture_lp.

struct MixLp {
    a: array<f32, D>,
    lp: array<f32, Z>,
    lse: f32,
}

fn mixture_lp(r: u32) -> MixLp {
    var out: MixLp;
    for (var i = 0u; i < D; i++) {
        out.a[i] = actions[u.a_off + r * D + i];
    }
    var m = NEG_INF;
    for (var k = 0u; k < Z; k++) {
        out.lp[k] = log_g[u.g_off + r * Z + k] + log_n(r * Z + k, out.a).lp;
        m = max(m, out.lp[k]);
    }
    var total = 0.0;
    for (var k = 0u; k < Z; k++) {
        total += exp(out.lp[k] - m);
    }
    out.lse = m + log(total);
    return out;
}
