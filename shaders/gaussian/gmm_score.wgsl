// gaussian/gmm_score.wgsl — exact score and log-density of a Gaussian mixture at noise levels.
//
// Math: query x of group g at noise (c, v) is scored under Σ_k w_k N(c·m_k, c²·S_k + v·I):
//   the noisy covariance is factorised (Cholesky) per component, log p = logsumexp_k(log w_k +
//   log N_k(x)) and score = Σ_k resp_k · C_k⁻¹(c·m_k − x), accumulated by online log-sum-exp.
//   Components whose noisy covariance is not positive definite are skipped.
// Layout: means [G, K, D], covs [G, K, D, D], log_w [G, K], x [G, Q, D], noise [G, Q, 2];
// out score [G, Q, D], log_p [G, Q]. Define D. One invocation per query.
// Dispatch: kernels::grid_for(G·Q, WG).
// CPU twin: cpu::gaussian::mixture_score.

struct Params {
    n: u32, queries: u32, components: u32, m_off: u32,
    c_off: u32, w_off: u32, x_off: u32, nz_off: u32,
    s_off: u32, p_off: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> means: array<f32>;
@group(0) @binding(1) var<storage, read> covs: array<f32>;
@group(0) @binding(2) var<storage, read> log_w: array<f32>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;
@group(0) @binding(4) var<storage, read> noise: array<f32>;
@group(0) @binding(5) var<storage, read_write> score: array<f32>;
@group(0) @binding(6) var<storage, read_write> log_p: array<f32>;
@group(0) @binding(7) var<uniform> u: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let q = linear_group(wid, nwg) * WG + li;
    if (q >= u.n) {
        return;
    }
    let grp = q / u.queries;
    let cm = noise[u.nz_off + 2u * q];
    let v = noise[u.nz_off + 2u * q + 1u];
    var x: array<f32, D>;
    for (var i = 0u; i < D; i++) {
        x[i] = xs[u.x_off + q * D + i];
    }
    var m = NEG_INF;
    var total = 0.0;
    var acc: array<f32, D>;
    for (var comp = 0u; comp < u.components; comp++) {
        let base = grp * u.components + comp;
        // Noisy covariance c²S + vI, factorised in place (lower triangle).
        var l: array<f32, D * D>;
        var ok = true;
        for (var j = 0u; j < D; j++) {
            var s = cm * cm * covs[u.c_off + base * D * D + j * D + j] + v;
            for (var k = 0u; k < j; k++) {
                s -= l[j * D + k] * l[j * D + k];
            }
            if (!(s > 0.0)) {
                ok = false;
                break;
            }
            let ljj = sqrt(s);
            l[j * D + j] = ljj;
            for (var i = j + 1u; i < D; i++) {
                var t = cm * cm * covs[u.c_off + base * D * D + i * D + j];
                for (var k = 0u; k < j; k++) {
                    t -= l[i * D + k] * l[j * D + k];
                }
                l[i * D + j] = t / ljj;
            }
        }
        if (!ok) {
            continue;
        }
        var y: array<f32, D>;
        var quad = 0.0;
        var logdet = 0.0;
        for (var i = 0u; i < D; i++) {
            var s = x[i] - cm * means[u.m_off + base * D + i];
            for (var k = 0u; k < i; k++) {
                s -= l[i * D + k] * y[k];
            }
            y[i] = s / l[i * D + i];
            quad += y[i] * y[i];
            logdet += log(l[i * D + i]);
        }
        var g: array<f32, D>;
        for (var ii = 0u; ii < D; ii++) {
            let i = D - 1u - ii;
            var s = -y[i];
            for (var k = i + 1u; k < D; k++) {
                s -= l[k * D + i] * g[k];
            }
            g[i] = s / l[i * D + i];
        }
        let lp = log_w[u.w_off + base] - 0.5 * quad - logdet - 0.5 * f32(D) * log(2.0 * PI);
        if (lp > m) {
            let r = exp(m - lp);
            total = total * r + 1.0;
            for (var i = 0u; i < D; i++) {
                acc[i] = acc[i] * r + g[i];
            }
            m = lp;
        } else {
            let e = exp(lp - m);
            total += e;
            for (var i = 0u; i < D; i++) {
                acc[i] += e * g[i];
            }
        }
    }
    for (var i = 0u; i < D; i++) {
        score[u.s_off + q * D + i] = acc[i] / total;
    }
    log_p[u.p_off + q] = m + log(total);
}
