//! Launchers of `shaders/norm/`: LayerNorm forward and backward.

use super::elementwise::Span;
use super::{grid_for, launch, reduce, shader, Cost, Kernel, R, W};
use crate::device::Gpu;
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// Forward (writes y and the per-row mean / rstd).
pub const LAYER_NORM: Kernel = Kernel {
    source: shader!("norm/layer_norm.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, W, W],
    variants: &[&[]],
};
/// Input gradient (define `ACC`: add it to the output buffer's contents).
pub const LAYER_NORM_BWD: Kernel = Kernel {
    source: shader!("norm/layer_norm_bwd.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, R, W],
    variants: &[&[("ACC", 0)], &[("ACC", 1)]],
};
/// Chunked partial sums of the parameter gradients.
pub const LAYER_NORM_BWD_W: Kernel = Kernel {
    source: shader!("norm/layer_norm_bwd_w.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, W],
    variants: &[&[]],
};

/// Forward over vec4 rows (define `N4`: the fixed row width in vec4s, or 0).
pub const LAYER_NORM_VEC4: Kernel = Kernel {
    source: shader!("norm/layer_norm_vec4.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, W, W],
    variants: N4_VARIANTS,
};
/// Input gradient over vec4 rows (define `N4` as [`LAYER_NORM_VEC4`], `ACC` as
/// [`LAYER_NORM_BWD`]).
pub const LAYER_NORM_BWD_VEC4: Kernel = Kernel {
    source: shader!("norm/layer_norm_bwd_vec4.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, R, W],
    variants: &[
        &[("N4", 0), ("ACC", 0)],
        &[("N4", 0), ("ACC", 1)],
        &[("N4", 18), ("ACC", 1)],
        &[("N4", MAX_FIXED_N4), ("ACC", 0)],
    ],
};
/// Row widths the vec4 kernels are checked with: any width, the models' 72, the largest fixed.
const N4_VARIANTS: &[&[(&str, u32)]] = &[&[("N4", 0)], &[("N4", 18)], &[("N4", MAX_FIXED_N4)]];

/// Widest row (in vec4s) the vec4 kernels compile for a fixed width, loading each row once into
/// registers; wider rows are read once per pass. Measured on lavapipe (`kprof teacher-step`,
/// width 72, two runs): forward and input gradient together 45 → 36–39 ms.
const MAX_FIXED_N4: u32 = 64;

/// The `N4` define of the vec4 kernels for rows of `n4` vec4s.
fn fixed_n4(n4: u32) -> u32 {
    if n4 <= MAX_FIXED_N4 {
        n4
    } else {
        0
    }
}
/// Parameter-gradient partial sums, four columns per invocation.
pub const LAYER_NORM_BWD_W_VEC4: Kernel = Kernel {
    source: shader!("norm/layer_norm_bwd_w_vec4.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, W],
    variants: &[&[]],
};

/// Every kernel of the family.
pub const KERNELS: &[Kernel] =
    &[LAYER_NORM, LAYER_NORM_BWD, LAYER_NORM_BWD_W, LAYER_NORM_VEC4, LAYER_NORM_BWD_VEC4, LAYER_NORM_BWD_W_VEC4];

/// Whether rows of width `n` at these element offsets can use the vec4 kernels.
fn vec4(n: usize, offs: &[u32]) -> bool {
    n.is_multiple_of(4) && offs.iter().all(|o| o % 4 == 0)
}

const WG: u32 = 64;
/// Rows per partial sum of the parameter gradients.
const CHUNK: usize = 64;

/// Records the forward pass; `stats` receives `[mean (rows), rstd (rows)]`.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for rows longer than [`super::MAX_ROW`]; kernel
/// compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    gpu: &Gpu,
    rows: usize,
    n: usize,
    eps: f32,
    x: Span,
    gamma: Span,
    beta: Span,
    y: Span,
    stats: Span,
) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        rows: u32,
        n: u32,
        eps: f32,
        off: [u32; 5],
    }
    super::check_row("layer_norm", n)?;
    let v = vec4(n, &[x.off, gamma.off, beta.off, y.off]);
    let (k, d) = if v { (&LAYER_NORM_VEC4, 4u32) } else { (&LAYER_NORM, 1u32) };
    let off = [x.off / d, gamma.off / d, beta.off / d, y.off / d, stats.off];
    let p = P { rows: rows as u32, n: n as u32 / d, eps, off };
    let bufs = [x.buf, gamma.buf, beta.buf, y.buf, stats.buf];
    let defines: &[(&str, u32)] = if v { &[("N4", fixed_n4(p.n))] } else { &[] };
    launch(gpu, k, defines, &[], &bufs, &p, grid_for(rows, WG), Cost::elems(rows * n, 2, 8.0))
}

/// What [`backward`] adds to instead of overwriting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accumulate {
    /// `dx += …` (the gradient of x gathered so far).
    pub dx: bool,
    /// `dgb += …` (parameter gradient slots).
    pub dgb: bool,
}

/// Records the backward pass: `dx`, and `dgb = [dγ (n), dβ (n)]`, each written or added to
/// (`acc`).
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for rows longer than [`super::MAX_ROW`]; allocation,
/// kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    gpu: &Gpu,
    rows: usize,
    n: usize,
    x: Span,
    gamma: Span,
    stats: Span,
    dy: Span,
    dx: Span,
    dgb: Span,
    acc: Accumulate,
) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        rows: u32,
        n: u32,
        off: [u32; 6],
    }
    super::check_row("layer_norm_bwd", n)?;
    let v = vec4(n, &[x.off, gamma.off, dy.off, dx.off]);
    let d = if v { 4u32 } else { 1 };
    let p =
        P { rows: rows as u32, n: n as u32 / d, off: [x.off / d, gamma.off / d, stats.off, dy.off / d, dx.off / d, 0] };
    let k = if v { &LAYER_NORM_BWD_VEC4 } else { &LAYER_NORM_BWD };
    let bufs = [x.buf, gamma.buf, stats.buf, dy.buf, dx.buf];
    let a = ("ACC", u32::from(acc.dx));
    let defines: &[(&str, u32)] = if v { &[("N4", fixed_n4(p.n)), a] } else { &[a] };
    let arrays = if acc.dx { 4 } else { 3 };
    launch(gpu, k, defines, &[], &bufs, &p, grid_for(rows, WG), Cost::elems(rows * n, arrays, 12.0))?;
    let chunks = rows.div_ceil(CHUNK).max(1);
    let part = gpu.alloc((chunks * 2 * n * 4) as u64)?;
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct Pw {
        rows: u32,
        n: u32,
        chunk: u32,
        x_off: u32,
        s_off: u32,
        dy_off: u32,
        pad: [u32; 2],
    }
    let pw = Pw {
        rows: rows as u32,
        n: n as u32 / d,
        chunk: CHUNK as u32,
        x_off: x.off / d,
        s_off: stats.off,
        dy_off: dy.off / d,
        pad: [0; 2],
    };
    let kw = if v { &LAYER_NORM_BWD_W_VEC4 } else { &LAYER_NORM_BWD_W };
    let groups = grid_for(chunks * n / d as usize, WG);
    launch(gpu, kw, &[], &[], &[x.buf, stats.buf, dy.buf, &part], &pw, groups, Cost::elems(rows * n, 2, 6.0))?;
    reduce::sum_leading_into(gpu, chunks, 2 * n, Span { buf: &part, off: 0 }, dgb, acc.dgb)
}
