//! Launchers of `shaders/gaussian/`: exact mixture scores and the fused VDD expert kernels.

use super::elementwise::Span;
use super::{grid_for, launch, shader, Cost, Kernel, Source, R, W};
use crate::cpu::gaussian::{CholFill, ExpertShape, MixtureShape};
use crate::device::Gpu;
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};

const COMMON: Source = shader!("gaussian/gaussian_common.wgsl");
const MIXTURE: Source = shader!("gaussian/mixture_common.wgsl");

/// Largest action dimension and expert count the kernels are specialised for.
pub const MAX_DIM: usize = 16;
/// Largest expert count.
pub const MAX_EXPERTS: usize = 32;

const DZ_VARIANTS: &[&[(&str, u32)]] =
    &[&[("D", 2), ("Z", 8), ("USE_RESP", 1)], &[("D", 3), ("Z", 4), ("USE_RESP", 0)]];
const D_VARIANTS: &[&[(&str, u32)]] = &[&[("D", 1)], &[("D", 2)], &[("D", 7)]];

/// Exact mixture score at noise levels.
pub const GMM_SCORE: Kernel = Kernel {
    source: shader!("gaussian/gmm_score.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, R, R, W, W],
    variants: D_VARIANTS,
};
/// Reparameterised expert samples.
pub const EXPERT_SAMPLE: Kernel = Kernel {
    source: shader!("gaussian/expert_sample.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, W],
    variants: D_VARIANTS,
};
/// Closed-form expert gradient.
pub const EXPERT_GRAD: Kernel = Kernel {
    source: shader!("gaussian/expert_grad.wgsl"),
    includes: &[COMMON],
    entry: "main",
    storage: &[R, R, R, R, R, W, W, W],
    variants: DZ_VARIANTS,
};
/// Mixture log-density and gating cross-entropy gradient.
pub const MIXTURE_LOG_PROB: Kernel = Kernel {
    source: shader!("gaussian/mixture_log_prob.wgsl"),
    includes: &[COMMON, MIXTURE],
    entry: "main",
    storage: &[R, R, R, R, W, W],
    variants: DZ_VARIANTS,
};

/// Gradient of the mixture NLL of data actions with respect to the experts.
pub const MIXTURE_NLL_GRAD: Kernel = Kernel {
    source: shader!("gaussian/mixture_nll_grad.wgsl"),
    includes: &[COMMON, MIXTURE],
    entry: "main",
    storage: &[R, R, R, R, W, W, W],
    variants: DZ_VARIANTS,
};

const FULL_VARIANTS: &[&[(&str, u32)]] = &[&[("FULL", 0)], &[("FULL", 1)]];
/// Lower Cholesky factors from a head's raw outputs.
pub const CHOL_FILL: Kernel = Kernel {
    source: shader!("gaussian/chol_fill.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, W],
    variants: FULL_VARIANTS,
};
/// Gradient of [`CHOL_FILL`].
pub const CHOL_FILL_BWD: Kernel = Kernel {
    source: shader!("gaussian/chol_fill_bwd.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, W],
    variants: FULL_VARIANTS,
};

/// Every kernel of the family.
pub const KERNELS: &[Kernel] =
    &[GMM_SCORE, EXPERT_SAMPLE, EXPERT_GRAD, MIXTURE_LOG_PROB, MIXTURE_NLL_GRAD, CHOL_FILL, CHOL_FILL_BWD];

fn check_dims(op: &'static str, d: usize, z: usize) -> Result<()> {
    if d == 0 || d > MAX_DIM || z == 0 || z > MAX_EXPERTS {
        return Err(Error::invalid(
            op,
            format!("dimension {d} and {z} experts: the GPU kernels support 1..={MAX_DIM} dims and 1..={MAX_EXPERTS} experts"),
        ));
    }
    Ok(())
}

/// Records the exact score and log-density of `G·Q` queries (see [`crate::cpu::gaussian::mixture_score`]).
///
/// # Errors
/// Unsupported dimension; kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn mixture_score(
    gpu: &Gpu,
    s: &MixtureShape,
    means: Span,
    covs: Span,
    log_w: Span,
    x: Span,
    noise: Span,
    score: Span,
    log_p: Span,
) -> Result<()> {
    check_dims("mixture_score", s.dim, 1)?;
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P([u32; 12]);
    let n = s.groups * s.queries;
    let p = P([
        n as u32,
        s.queries as u32,
        s.components as u32,
        means.off,
        covs.off,
        log_w.off,
        x.off,
        noise.off,
        score.off,
        log_p.off,
        0,
        0,
    ]);
    let d = s.dim as f64;
    let flops = (n * s.components) as f64 * (d * d * d / 3.0 + 3.0 * d * d + 20.0);
    let bytes = 4.0 * (n as f64 * (2.0 * d + 3.0) + (s.groups * s.components) as f64 * (d * d + d + 1.0));
    launch(
        gpu,
        &GMM_SCORE,
        &[("D", s.dim as u32)],
        &[],
        &[means.buf, covs.buf, log_w.buf, x.buf, noise.buf, score.buf, log_p.buf],
        &p,
        grid_for(n, 64),
        Cost { flops, bytes },
    )
}

/// Records `a = μ + Lε` for every (state, expert, sample).
///
/// # Errors
/// Unsupported dimension; kernel compilation or dispatch errors.
pub fn expert_sample(gpu: &Gpu, s: &ExpertShape, mean: Span, chol: Span, eps: Span, out: Span) -> Result<()> {
    check_dims("expert_sample", s.dim, s.experts)?;
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P([u32; 6]);
    let n = s.rows * s.experts * s.samples;
    let p = P([n as u32, s.samples as u32, mean.off, chol.off, eps.off, out.off]);
    let d = s.dim as f64;
    launch(
        gpu,
        &EXPERT_SAMPLE,
        &[("D", s.dim as u32)],
        &[],
        &[mean.buf, chol.buf, eps.buf, out.buf],
        &p,
        grid_for(n, 64),
        Cost { flops: n as f64 * d * (d + 1.0), bytes: 8.0 * n as f64 * d },
    )
}

/// The outputs of [`expert_grad`].
pub struct ExpertGradOut<'a> {
    /// `[R, Z, d]`.
    pub d_mean: Span<'a>,
    /// `[R, Z, d, d]`.
    pub d_chol: Span<'a>,
    /// `[R, Z]`.
    pub log_resp: Span<'a>,
}

/// Records the closed-form VDD expert gradient (see [`crate::cpu::gaussian::expert_grad`]).
///
/// # Errors
/// Unsupported sizes; kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn expert_grad(
    gpu: &Gpu,
    s: &ExpertShape,
    use_resp: bool,
    mean: Span,
    chol: Span,
    log_g: Span,
    eps: Span,
    score: Span,
    out: ExpertGradOut,
) -> Result<()> {
    check_dims("expert_grad", s.dim, s.experts)?;
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        u: [u32; 10],
        w_norm: f32,
        inv_v: f32,
    }
    let p = P {
        u: [
            s.rows as u32,
            s.samples as u32,
            mean.off,
            chol.off,
            log_g.off,
            eps.off,
            score.off,
            out.d_mean.off,
            out.d_chol.off,
            out.log_resp.off,
        ],
        w_norm: 1.0 / (s.rows * s.experts) as f32,
        inv_v: 1.0 / s.samples as f32,
    };
    let (d, z) = (s.dim as f64, s.experts as f64);
    let n = (s.rows * s.experts * s.samples) as f64;
    launch(
        gpu,
        &EXPERT_GRAD,
        &[("D", s.dim as u32), ("Z", s.experts as u32), ("USE_RESP", u32::from(use_resp))],
        &[],
        &[mean.buf, chol.buf, log_g.buf, eps.buf, score.buf, out.d_mean.buf, out.d_chol.buf, out.log_resp.buf],
        &p,
        grid_for(s.rows * s.experts, 64),
        Cost { flops: n * z * (2.0 * d * d + 12.0), bytes: 4.0 * n * 2.0 * d },
    )
}

/// Records the mixture log-density of one action per state and the gating gradient (see
/// [`crate::cpu::gaussian::mixture_log_prob`]).
///
/// # Errors
/// Unsupported sizes; kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn mixture_log_prob(
    gpu: &Gpu,
    s: &ExpertShape,
    mean: Span,
    chol: Span,
    log_g: Span,
    actions: Span,
    log_q: Span,
    d_log_g: Span,
) -> Result<()> {
    check_dims("mixture_log_prob", s.dim, s.experts)?;
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        u: [u32; 7],
        w_norm: f32,
    }
    let p = P {
        u: [s.rows as u32, mean.off, chol.off, log_g.off, actions.off, log_q.off, d_log_g.off],
        w_norm: 1.0 / (s.rows * s.experts) as f32,
    };
    let (d, z, r) = (s.dim as f64, s.experts as f64, s.rows as f64);
    launch(
        gpu,
        &MIXTURE_LOG_PROB,
        &[("D", s.dim as u32), ("Z", s.experts as u32)],
        &[],
        &[mean.buf, chol.buf, log_g.buf, actions.buf, log_q.buf, d_log_g.buf],
        &p,
        grid_for(s.rows, 64),
        Cost { flops: r * z * (d * d + 10.0), bytes: 4.0 * r * z * (d * d + d + 2.0) },
    )
}

/// Outputs of [`mixture_nll_grad`].
pub struct MixtureNllGradOut<'a> {
    /// `log q(a_r|s_r)`, `[R]`.
    pub log_q: Span<'a>,
    /// `∂loss/∂μ`, `[R, Z, d]`.
    pub d_mean: Span<'a>,
    /// `∂loss/∂L`, `[R, Z, d, d]`.
    pub d_chol: Span<'a>,
}

/// Records the gradient of the mixture NLL of one data action per state with respect to the
/// experts (see [`crate::cpu::gaussian::mixture_nll_grad`]).
///
/// # Errors
/// Unsupported sizes; kernel compilation or dispatch errors.
pub fn mixture_nll_grad(
    gpu: &Gpu,
    s: &ExpertShape,
    mean: Span,
    chol: Span,
    log_g: Span,
    actions: Span,
    out: MixtureNllGradOut,
) -> Result<()> {
    check_dims("mixture_nll_grad", s.dim, s.experts)?;
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        u: [u32; 8],
        inv_r: f32,
        pad: [u32; 3],
    }
    let p = P {
        u: [s.rows as u32, mean.off, chol.off, log_g.off, actions.off, out.log_q.off, out.d_mean.off, out.d_chol.off],
        inv_r: 1.0 / s.rows as f32,
        pad: [0; 3],
    };
    let (d, z, r) = (s.dim as f64, s.experts as f64, s.rows as f64);
    launch(
        gpu,
        &MIXTURE_NLL_GRAD,
        &[("D", s.dim as u32), ("Z", s.experts as u32)],
        &[],
        &[mean.buf, chol.buf, log_g.buf, actions.buf, out.log_q.buf, out.d_mean.buf, out.d_chol.buf],
        &p,
        grid_for(s.rows, 64),
        Cost { flops: r * z * (3.0 * d * d + 12.0), bytes: 4.0 * r * z * (2.0 * d * d + 2.0 * d + 2.0) },
    )
}

/// Records [`crate::cpu::gaussian::chol_fill`] of `n` matrices.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn chol_fill(gpu: &Gpu, c: &CholFill, n: usize, raw: Span, out: Span) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        u: [u32; 4],
        shift: f32,
        floor: f32,
        pad: [u32; 2],
    }
    let p = P { u: [n as u32, c.dim as u32, raw.off, out.off], shift: c.shift, floor: c.floor, pad: [0; 2] };
    let (k, dd) = (c.slots(), c.dim * c.dim);
    launch(
        gpu,
        &CHOL_FILL,
        &[("FULL", u32::from(c.full))],
        &[],
        &[raw.buf, out.buf],
        &p,
        grid_for(n, 64),
        Cost { flops: (n * 4 * c.dim) as f64, bytes: (4 * n * (k + dd)) as f64 },
    )
}

/// Records [`crate::cpu::gaussian::chol_fill_bwd`] of `n` matrices.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn chol_fill_bwd(gpu: &Gpu, c: &CholFill, n: usize, raw: Span, dl: Span, draw: Span) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        u: [u32; 5],
        shift: f32,
        pad: [u32; 2],
    }
    let p = P { u: [n as u32, c.dim as u32, raw.off, dl.off, draw.off], shift: c.shift, pad: [0; 2] };
    let k = c.slots();
    launch(
        gpu,
        &CHOL_FILL_BWD,
        &[("FULL", u32::from(c.full))],
        &[],
        &[raw.buf, dl.buf, draw.buf],
        &p,
        grid_for(n, 64),
        Cost { flops: (n * 4 * c.dim) as f64, bytes: (4 * n * 3 * k) as f64 },
    )
}
