//! Launchers of `shaders/matmul/`: three GEMM kernels, their configurations and epilogues
//! (fused activation, accumulation, the weight gradient's bias row), and split-K. The kernel
//! table lives in `matmul/kernels.rs`, the shape-adaptive choice of a configuration, [`plan()`],
//! in `matmul/plan.rs`.

mod kernels;
mod plan;

pub use kernels::{GEMM_SG8, GEMM_SG8_TEX_A, GEMM_SG8_TEX_B, GEMM_SHARED, GEMM_TILE, KERNELS, NO_ACT};
use plan::plan_sg8;
pub use plan::{few_rows, plan, plan_for, Texels, FEW_ROWS, LONG_K};

use super::elementwise::{self, Span};
use super::{launch, reduce, Cost, Kernel};
use crate::cpu::elementwise::Unary;
use crate::cpu::gemm::GemmShape;
use crate::device::Gpu;
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};

/// A GEMM kernel with its tile parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kernel", rename_all = "snake_case")]
pub enum GemmConfig {
    /// `gemm_tile.wgsl`: TM×TN outputs per invocation, WGX×WGY invocations.
    Tile {
        /// Rows per invocation.
        tm: u32,
        /// Columns per invocation.
        tn: u32,
        /// Workgroup width (columns of invocations).
        wgx: u32,
        /// Workgroup height.
        wgy: u32,
    },
    /// `gemm_shared.wgsl`: as Tile, staging BK-deep slices in workgroup memory.
    Shared {
        /// Rows per invocation.
        tm: u32,
        /// Columns per invocation.
        tn: u32,
        /// Workgroup width.
        wgx: u32,
        /// Workgroup height.
        wgy: u32,
        /// k-depth of a staged slice.
        bk: u32,
    },
    /// `gemm_sg8.wgsl`: TM rows × 4·TN4 columns per invocation, groups of 8 share rows.
    Sg8 {
        /// Rows per 8-invocation group (multiple of 8).
        tm: u32,
        /// vec4 column groups per invocation.
        tn4: u32,
        /// Invocations per workgroup (multiple of 8).
        wg: u32,
        /// Computes Cᵀ = op(B)ᵀ·op(A)ᵀ and stores it transposed (tiles run along C's columns:
        /// for products with few columns and many rows).
        #[serde(default)]
        tc: bool,
    },
}

impl std::fmt::Display for GemmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            GemmConfig::Tile { tm, tn, wgx, wgy } => write!(f, "tile tm{tm} tn{tn} wg{wgx}x{wgy}"),
            GemmConfig::Shared { tm, tn, wgx, wgy, bk } => write!(f, "shared tm{tm} tn{tn} wg{wgx}x{wgy} bk{bk}"),
            GemmConfig::Sg8 { tm, tn4, wg, tc } => {
                write!(f, "sg8 tm{tm} tn{} wg{wg}{}", tn4 * 4, if tc { " tc" } else { "" })
            }
        }
    }
}

/// Where the operands start, for the alignment checks of vectorised kernels.
#[derive(Clone, Copy, Debug, Default)]
pub struct Offsets {
    /// Element offset of A.
    pub a: u32,
    /// Element offset of B.
    pub b: u32,
    /// Element offset of C.
    pub c: u32,
}

impl GemmConfig {
    /// Rows and columns of the kernel's output covered by one workgroup (of Cᵀ when the
    /// configuration transposes its output).
    pub fn block(&self) -> (u32, u32) {
        match *self {
            GemmConfig::Tile { tm, tn, wgx, wgy } | GemmConfig::Shared { tm, tn, wgx, wgy, .. } => (wgy * tm, wgx * tn),
            GemmConfig::Sg8 { tm, tn4, wg, .. } => ((wg / 8) * tm, 32 * tn4),
        }
    }

    /// Whether the kernel computes Cᵀ (see [`GemmConfig::Sg8`]'s `tc`).
    pub fn transposes_output(&self) -> bool {
        matches!(self, GemmConfig::Sg8 { tc: true, .. })
    }

    /// The product the kernel computes for `s`: `s` itself, or Cᵀ = op(B)ᵀ·op(A)ᵀ (operands,
    /// transposes, sizes and batch strides swapped) when it transposes its output.
    pub fn kernel_shape(&self, s: &GemmShape) -> GemmShape {
        if !self.transposes_output() {
            return *s;
        }
        GemmShape {
            m: s.n,
            n: s.m,
            trans_a: !s.trans_b,
            trans_b: !s.trans_a,
            batch_stride_a: s.batch_stride_b,
            batch_stride_b: s.batch_stride_a,
            ..*s
        }
    }

    /// Whether this kernel can run the product on this adapter (shape, alignment, features,
    /// workgroup limits).
    pub fn supports(&self, gpu: &Gpu, s: &GemmShape, off: Offsets) -> bool {
        let lim = gpu.limits();
        let fits = |x: u32, y: u32| {
            x * y <= lim.max_compute_invocations_per_workgroup
                && x <= lim.max_compute_workgroup_size_x
                && y <= lim.max_compute_workgroup_size_y
        };
        match *self {
            GemmConfig::Tile { tm, tn, wgx, wgy } => tm > 0 && tn > 0 && fits(wgx, wgy),
            GemmConfig::Shared { tm, tn, wgx, wgy, bk } => {
                tm > 0
                    && tn > 0
                    && bk > 0
                    && fits(wgx, wgy)
                    && 4 * bk * (wgy * tm + wgx * tn) <= lim.max_compute_workgroup_storage_size
            }
            GemmConfig::Sg8 { tm, tn4, wg, tc } => {
                let sg_ok = super::subgroups_of_8(gpu);
                let aligned = |o: u32, st: usize| o.is_multiple_of(4) && st.is_multiple_of(4);
                sg_ok
                    && tm % 8 == 0
                    && tm > 0
                    && tm <= SG8_MAX_TM
                    && tn4 > 0
                    && wg % 8 == 0
                    && fits(wg, 1)
                    && s.k.is_multiple_of(4)
                    && s.n.is_multiple_of(4)
                    && (!(s.trans_a || tc) || s.m.is_multiple_of(4))
                    && aligned(off.a, s.batch_stride_a)
                    && aligned(off.b, s.batch_stride_b)
                    && off.c.is_multiple_of(4)
            }
        }
    }

    /// The kernel and its defines for the product `s` the kernel itself computes (already
    /// [`GemmConfig::kernel_shape`]); `tex` (subgroup kernel only) names the operand read
    /// through its texture mirror: 0 none, 1 A, 2 B.
    fn kernel_and_defines(
        &self,
        s: &GemmShape,
        bias: bool,
        op: u32,
        ep: Epilogue,
        tex: u32,
    ) -> (&'static Kernel, Vec<(&'static str, u32)>, Vec<(&'static str, f64)>) {
        let flags = [
            ("TRANS_A", u32::from(s.trans_a)),
            ("TRANS_B", u32::from(s.trans_b)),
            ("HAS_BIAS", u32::from(bias)),
            ("OP", op),
        ];
        match *self {
            GemmConfig::Tile { tm, tn, wgx, wgy } => {
                let mut d = vec![("TM", tm), ("TN", tn)];
                d.extend(flags);
                (&GEMM_TILE, d, vec![("WGX", f64::from(wgx)), ("WGY", f64::from(wgy))])
            }
            GemmConfig::Shared { tm, tn, wgx, wgy, bk } => {
                let mut d = vec![("TM", tm), ("TN", tn), ("WGX", wgx), ("WGY", wgy), ("BK", bk)];
                d.extend(flags);
                (&GEMM_SHARED, d, vec![])
            }
            GemmConfig::Sg8 { tm, tn4, wg, tc } => {
                let mut d = vec![
                    ("TM", tm),
                    ("TN4", tn4),
                    ("TRANS_C", u32::from(tc)),
                    ("ACC_C", u32::from(ep.acc)),
                    ("BIAS_ROW", u32::from(ep.bias_row)),
                ];
                d.extend(flags);
                d.push(("TEX", tex));
                let kernel = match tex {
                    1 => &GEMM_SG8_TEX_A,
                    2 => &GEMM_SG8_TEX_B,
                    _ => &GEMM_SG8,
                };
                (kernel, d, vec![("WG", f64::from(wg))])
            }
        }
    }

    fn k_granule(&self) -> usize {
        match self {
            GemmConfig::Sg8 { .. } => 4,
            _ => 1,
        }
    }

    /// The longest k one invocation reduces over; longer products are split, so that its
    /// loops stay under [`crate::kernels::LOOP_CAP`]: the subgroup kernel loops once per 4
    /// values of k, the register-tiled one once per value, the shared-memory one about 1.5
    /// times per value (its cooperative tile loads loop too).
    fn max_k(&self) -> usize {
        match self {
            GemmConfig::Sg8 { .. } => 4 * 60_000,
            GemmConfig::Tile { .. } => 60_000,
            GemmConfig::Shared { .. } => 16_384,
        }
    }
}

/// Most tile rows of the subgroup kernel: it updates its 8-row blocks by one call each, for at
/// most nine blocks (see `rows8` in `gemm_sg8.wgsl`).
pub const SG8_MAX_TM: u32 = 72;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GemmParams {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_off: u32,
    b_off: u32,
    c_off: u32,
    bias_off: u32,
    sa: u32,
    sb: u32,
    k_split: u32,
    splits: u32,
    alpha: f32,
    c_block: u32,
    pad: [u32; 2],
}

/// Records `c = alpha·op(a)·op(b) (+ bias)` with an explicit kernel configuration and number
/// of k-splits (`splits > 1` writes partial products to scratch and sums them).
///
/// # Errors
/// [`Error::InvalidArgument`] if the configuration does not support the product; kernel
/// compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(
    gpu: &Gpu,
    cfg: GemmConfig,
    splits: usize,
    s: &GemmShape,
    a: Span,
    b: Span,
    bias: Option<Span>,
    c: Span,
) -> Result<()> {
    gemm_act_with(gpu, cfg, splits, s, a, b, bias, None, c)
}

/// As [`gemm_with`], followed by the activation `act` (a parameterless [`Unary`]): fused into
/// the kernel's store when there is one split, a separate elementwise pass after the split
/// reduction otherwise.
///
/// # Errors
/// As [`gemm_with`]; [`Error::InvalidArgument`] for a unary with parameters.
#[allow(clippy::too_many_arguments)]
pub fn gemm_act_with(
    gpu: &Gpu,
    cfg: GemmConfig,
    splits: usize,
    s: &GemmShape,
    a: Span,
    b: Span,
    bias: Option<Span>,
    act: Option<Unary>,
    c: Span,
) -> Result<()> {
    record(gpu, cfg, splits, s, a, b, bias, Epilogue { act, ..Epilogue::default() }, c)
}

/// What happens to a product's result besides `alpha·` and the bias (see [`record`]).
#[derive(Clone, Copy, Debug, Default)]
struct Epilogue {
    /// A fused parameterless activation.
    act: Option<Unary>,
    /// Add to C instead of overwriting it (sg8 only).
    acc: bool,
    /// Append the column sums of op(B) as row m of C (sg8 weight gradients only).
    bias_row: bool,
}

/// Records one product with an explicit configuration, k-splits and epilogue: the kernel, then
/// (with splits) the deterministic split reduction, accumulating or activating as asked.
#[allow(clippy::too_many_arguments)]
fn record(
    gpu: &Gpu,
    cfg: GemmConfig,
    splits: usize,
    s: &GemmShape,
    a: Span,
    b: Span,
    bias: Option<Span>,
    ep: Epilogue,
    c: Span,
) -> Result<()> {
    if s.batch == 0 || s.m == 0 || s.n == 0 {
        return Ok(());
    }
    let act = ep.act;
    if act.is_some_and(|u| u.params() != [0.0, 0.0]) {
        return Err(Error::invalid("gemm", format!("cannot fuse {act:?}: only parameterless activations")));
    }
    if (ep.acc || ep.bias_row) && (act.is_some() || !matches!(cfg, GemmConfig::Sg8 { .. }))
        || ep.bias_row && !(s.trans_a && !s.trans_b && s.batch == 1 && bias.is_none())
    {
        return Err(Error::invalid("gemm", format!("{cfg} cannot run {ep:?} for {s:?}")));
    }
    let g = cfg.k_granule();
    let splits = splits.max(s.k.div_ceil(cfg.max_k())).clamp(1, s.k.max(1));
    let k_split = if splits == 1 { s.k.max(1) } else { s.k.div_ceil(splits).div_ceil(g) * g };
    let splits = if s.k == 0 { 1 } else { s.k.div_ceil(k_split) };
    // One C block: m rows, plus the bias row.
    let c_rows = s.m + usize::from(ep.bias_row);
    let block = s.batch * c_rows * s.n;
    let scratch = if splits > 1 { Some(gpu.alloc((splits * block * 4) as u64)?) } else { None };
    let out = scratch.as_ref().map_or(c, |buf| Span { buf, off: 0 });
    if !cfg.supports(gpu, s, Offsets { a: a.off, b: b.off, c: out.off }) {
        return Err(Error::invalid(
            "gemm",
            format!("{cfg} cannot run {s:?} at offsets a={} b={} c={}", a.off, b.off, out.off),
        ));
    }
    let fused = if splits == 1 { act.map_or(NO_ACT, Unary::code) } else { NO_ACT };
    let kernel_ep = Epilogue { acc: ep.acc && splits == 1, ..ep };
    // The kernel's own product (Cᵀ with swapped operands when it transposes its output).
    let ks = cfg.kernel_shape(s);
    let (ka, kb) = if cfg.transposes_output() { (b, a) } else { (a, b) };
    // A read-mostly operand (the parameters) is read through its texture mirror by the
    // subgroup kernel (B first: a product has at most one parameter operand in practice).
    let tex = match (cfg, texels(gpu, ka, kb)) {
        (GemmConfig::Sg8 { .. }, Texels { b: true, .. }) => 2,
        (GemmConfig::Sg8 { .. }, Texels { a: true, .. }) => 1,
        _ => 0,
    };
    let (kernel, defines, overrides) = cfg.kernel_and_defines(&ks, bias.is_some(), fused, kernel_ep, tex);
    let (bm, bn) = cfg.block();
    let groups = [ks.n.div_ceil(bn as usize) as u32, ks.m.div_ceil(bm as usize) as u32, (s.batch * splits) as u32];
    let params = GemmParams {
        m: ks.m as u32,
        n: ks.n as u32,
        k: ks.k as u32,
        batch: ks.batch as u32,
        a_off: ka.off,
        b_off: kb.off,
        c_off: out.off,
        bias_off: bias.map_or(0, |x| x.off),
        sa: ks.batch_stride_a as u32,
        sb: ks.batch_stride_b as u32,
        k_split: k_split as u32,
        splits: splits as u32,
        alpha: s.alpha,
        c_block: (c_rows * s.n) as u32,
        pad: [0; 2],
    };
    let bias_buf = bias.map_or(a.buf, |x| x.buf);
    launch(
        gpu,
        kernel,
        &defines,
        &overrides,
        &[ka.buf, kb.buf, bias_buf, out.buf],
        &params,
        groups,
        Cost { flops: s.flops(), bytes: (4 * (s.a_len() + s.b_len() + splits * block)) as f64 },
    )?;
    if splits > 1 {
        match act {
            Some(u) => {
                let sum = gpu.alloc((block * 4) as u64)?;
                reduce::sum_leading(gpu, splits, block, out, Span { buf: &sum, off: 0 })?;
                elementwise::unary(gpu, u, block, Span { buf: &sum, off: 0 }, c)?;
            }
            None => reduce::sum_leading_into(gpu, splits, block, out, c, ep.acc)?,
        }
    }
    Ok(())
}

/// Records `c += alpha·op(a)·op(b)` with the planned kernel when it is the subgroup kernel
/// (which adds in its store, or in its split reduction); returns `false`, recording nothing,
/// otherwise.
///
/// # Errors
/// Allocation, kernel compilation or dispatch errors.
pub fn gemm_acc(gpu: &Gpu, s: &GemmShape, a: Span, b: Span, c: Span) -> Result<bool> {
    let (cfg, splits) = plan_for(gpu, s, Offsets { a: a.off, b: b.off, c: c.off }, texels(gpu, a, b));
    if !matches!(cfg, GemmConfig::Sg8 { .. }) {
        return Ok(false);
    }
    record(gpu, cfg, splits, s, a, b, None, Epilogue { act: None, acc: true, bias_row: false }, c)?;
    Ok(true)
}

/// Records the gradients of a linear layer's weight and bias, added to what `grad` holds:
/// `grad[0..fan_in·fan_out] += xᵀ·dy` and, `with_bias`, the next `fan_out` elements
/// `+= Σ_rows dy` (the layout of a weight followed by its bias in a flat gradient buffer), as one
/// subgroup-kernel product (plus its split reduction), planned unless `cfg` gives the
/// configuration and k-splits. Returns `false`, recording nothing, when the adapter's kernel
/// cannot run it (callers then compute and add the gradients separately).
///
/// # Shapes
/// `x: [rows, fan_in]`, `dy: [rows, fan_out]`, `grad: [fan_in (+ 1), fan_out]`.
///
/// # Errors
/// Allocation, kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn linear_grads_acc(
    gpu: &Gpu,
    rows: usize,
    fan_in: usize,
    fan_out: usize,
    x: Span,
    dy: Span,
    with_bias: bool,
    grad: Span,
    cfg: Option<(GemmConfig, usize)>,
) -> Result<bool> {
    let s = GemmShape { trans_a: true, ..GemmShape::new(fan_in, fan_out, rows) };
    let off = Offsets { a: x.off, b: dy.off, c: grad.off };
    let planned =
        if s.k == 0 || s.m <= FEW_ROWS && s.k < LONG_K { None } else { plan_sg8(gpu, &s, off, texels(gpu, x, dy)) };
    let Some((cfg, splits)) = cfg.or(planned) else { return Ok(false) };
    record(gpu, cfg, splits, &s, x, dy, None, Epilogue { act: None, acc: true, bias_row: with_bias }, grad)?;
    Ok(true)
}

/// Which operands live in read-mostly buffers whose texture mirrors fit the adapter (fetched as
/// texels by the subgroup kernel).
fn texels(gpu: &Gpu, a: Span, b: Span) -> Texels {
    let texel = |x: Span| x.buf.read_mostly() && gpu.mirror_fits(x.buf);
    Texels { a: texel(a), b: texel(b) }
}

/// Records `c = alpha·op(a)·op(b) (+ bias)` with the planned kernel.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn gemm(gpu: &Gpu, s: &GemmShape, a: Span, b: Span, bias: Option<Span>, c: Span) -> Result<()> {
    gemm_act(gpu, s, a, b, bias, None, c)
}

/// Records `c = act(alpha·op(a)·op(b) (+ bias))` with the planned kernel (see
/// [`gemm_act_with`]).
///
/// # Errors
/// As [`gemm_act_with`].
pub fn gemm_act(
    gpu: &Gpu,
    s: &GemmShape,
    a: Span,
    b: Span,
    bias: Option<Span>,
    act: Option<Unary>,
    c: Span,
) -> Result<()> {
    let (cfg, splits) = plan_for(gpu, s, Offsets { a: a.off, b: b.off, c: c.off }, texels(gpu, a, b));
    gemm_act_with(gpu, cfg, splits, s, a, b, bias, act, c)
}
