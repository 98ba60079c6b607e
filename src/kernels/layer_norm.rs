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
/// Input gradient.
pub const LAYER_NORM_BWD: Kernel = Kernel {
    source: shader!("norm/layer_norm_bwd.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, R, W],
    variants: &[&[]],
};
/// Chunked partial sums of the parameter gradients.
pub const LAYER_NORM_BWD_W: Kernel = Kernel {
    source: shader!("norm/layer_norm_bwd_w.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, W],
    variants: &[&[]],
};

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[LAYER_NORM, LAYER_NORM_BWD, LAYER_NORM_BWD_W];

const WG: u32 = 64;
/// Rows per partial sum of the parameter gradients.
const CHUNK: usize = 64;

/// Records the forward pass; `stats` receives `[mean (rows), rstd (rows)]`.
///
/// # Errors
/// Kernel compilation or dispatch errors.
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
    let p = P { rows: rows as u32, n: n as u32, eps, off: [x.off, gamma.off, beta.off, y.off, stats.off] };
    launch(
        gpu,
        &LAYER_NORM,
        &[],
        &[],
        &[x.buf, gamma.buf, beta.buf, y.buf, stats.buf],
        &p,
        grid_for(rows, WG),
        Cost::elems(rows * n, 2, 8.0),
    )
}

/// Records the backward pass: `dx`, and `dgb = [dγ (n), dβ (n)]`.
///
/// # Errors
/// Allocation, kernel compilation or dispatch errors.
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
) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        rows: u32,
        n: u32,
        off: [u32; 6],
    }
    let p = P { rows: rows as u32, n: n as u32, off: [x.off, gamma.off, stats.off, dy.off, dx.off, 0] };
    launch(
        gpu,
        &LAYER_NORM_BWD,
        &[],
        &[],
        &[x.buf, gamma.buf, stats.buf, dy.buf, dx.buf],
        &p,
        grid_for(rows, WG),
        Cost::elems(rows * n, 3, 12.0),
    )?;
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
        n: n as u32,
        chunk: CHUNK as u32,
        x_off: x.off,
        s_off: stats.off,
        dy_off: dy.off,
        pad: [0; 2],
    };
    launch(
        gpu,
        &LAYER_NORM_BWD_W,
        &[],
        &[],
        &[x.buf, stats.buf, dy.buf, &part],
        &pw,
        grid_for(chunks * n, WG),
        Cost::elems(rows * n, 2, 6.0),
    )?;
    reduce::sum_leading(gpu, chunks, 2 * n, Span { buf: &part, off: 0 }, dgb)
}
