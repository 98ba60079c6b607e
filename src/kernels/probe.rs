//! Probe kernels of `shaders/probe/` for `tools/peak`: FMA throughput, copy bandwidth and
//! dispatch latency of an adapter.

use super::elementwise::Span;
use super::{grid_for, launch, shader, Cost, Kernel, W};
use crate::device::{Gpu, GpuBuffer};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// FMA chains (`NACC` vec4 accumulators per invocation).
pub const FMA: Kernel = Kernel {
    source: shader!("probe/fma.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[W],
    variants: &[&[("NACC", 8)], &[("NACC", 16)], &[("NACC", 24)], &[("NACC", 32)]],
};
/// vec4 buffer copy.
pub const COPY: Kernel = Kernel {
    source: shader!("probe/copy.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[super::R, W],
    variants: &[&[]],
};
/// vec4 copy out of a buffer's texture mirror ([`crate::device::Access::Texture`]).
pub const TEXTURE_COPY: Kernel = Kernel {
    source: shader!("probe/texture_copy.wgsl"),
    includes: &[super::LINEAR_TEXTURE],
    entry: "main",
    storage: &[super::T, W],
    variants: &[&[]],
};
/// An empty dispatch.
pub const EMPTY: Kernel =
    Kernel { source: shader!("probe/empty.wgsl"), includes: &[], entry: "main", storage: &[W], variants: &[&[]] };

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[FMA, COPY, TEXTURE_COPY, EMPTY];

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct P {
    x: u32,
    pad: [u32; 3],
}

/// Invocations per workgroup of the FMA probe.
pub const FMA_WG: u32 = 64;

/// Records `groups` workgroups of the FMA probe with `nacc` vec4 chains and `iters` iterations;
/// returns the flops it performs.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn fma(gpu: &Gpu, nacc: u32, groups: u32, iters: u32, out: &GpuBuffer) -> Result<f64> {
    launch(
        gpu,
        &FMA,
        &[("NACC", nacc)],
        &[],
        &[out],
        &P { x: iters, pad: [0; 3] },
        [groups, 1, 1],
        Cost { flops: 8.0 * f64::from(nacc) * f64::from(iters) * f64::from(groups) * f64::from(FMA_WG), bytes: 0.0 },
    )?;
    Ok(8.0 * f64::from(nacc) * f64::from(iters) * f64::from(groups) * f64::from(FMA_WG))
}

/// Records a copy of `n` vec4s from `src` to `dst`.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn copy(gpu: &Gpu, n: usize, src: &GpuBuffer, dst: &GpuBuffer) -> Result<()> {
    let s = Span { buf: src, off: 0 };
    launch(
        gpu,
        &COPY,
        &[],
        &[],
        &[s.buf, dst],
        &P { x: n as u32, pad: [0; 3] },
        grid_for(n, 256),
        Cost::elems(4 * n, 2, 0.0),
    )
}

/// Records a copy of `n` vec4s from `src`, read through its texture mirror, to `dst`.
///
/// # Errors
/// Kernel compilation or dispatch errors ([`crate::Error::LimitExceeded`] for a mirror taller
/// than the adapter's 2-D textures).
pub fn texture_copy(gpu: &Gpu, n: usize, src: &GpuBuffer, dst: &GpuBuffer) -> Result<()> {
    launch(
        gpu,
        &TEXTURE_COPY,
        &[],
        &[],
        &[src, dst],
        &P { x: n as u32, pad: [0; 3] },
        grid_for(n, 256),
        Cost::elems(4 * n, 2, 0.0),
    )
}

/// Records one empty dispatch.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn empty(gpu: &Gpu, out: &GpuBuffer) -> Result<()> {
    launch(gpu, &EMPTY, &[], &[], &[out], &P { x: 0, pad: [0; 3] }, [1, 1, 1], Cost::default())
}
