//! Launchers of `shaders/rng/`: Philox random fills and dropout.

use super::elementwise::Span;
use super::{grid_for, launch, shader, Cost, Kernel, Source, R, W};
use crate::cpu::rng;
use crate::device::Gpu;
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// The Philox library.
pub const PHILOX: Source = shader!("rng/philox.wgsl");

/// Uniform (`DIST` 0) or normal (`DIST` 1) fill.
pub const RNG: Kernel = Kernel {
    source: shader!("rng/rng.wgsl"),
    includes: &[PHILOX],
    entry: "main",
    storage: &[W],
    variants: &[&[("DIST", 0)], &[("DIST", 1)]],
};
/// Dropout (and its backward).
pub const DROPOUT: Kernel = Kernel {
    source: shader!("rng/dropout.wgsl"),
    includes: &[PHILOX],
    entry: "main",
    storage: &[R, W],
    variants: &[&[]],
};

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[RNG, DROPOUT];

/// A distribution to fill with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Uniform in `[lo, hi)`.
    Uniform {
        /// Lower bound.
        lo: f32,
        /// Upper bound.
        hi: f32,
    },
    /// Normal with mean and standard deviation.
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        std: f32,
    },
}

fn split(x: u64) -> [u32; 2] {
    [x as u32, (x >> 32) as u32]
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RngParams {
    n: u32,
    y_off: u32,
    key: [u32; 2],
    offset: [u32; 2],
    lo: f32,
    hi: f32,
}

/// Records a fill of `n` elements of `y` from Philox stream `(seed, offset)`.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn fill(gpu: &Gpu, dist: Dist, seed: u64, offset: u64, n: usize, y: Span) -> Result<()> {
    let (code, lo, hi) = match dist {
        Dist::Uniform { lo, hi } => (0, lo, hi),
        Dist::Normal { mean, std } => (1, mean, std),
    };
    let p = RngParams { n: n as u32, y_off: y.off, key: rng::key(seed), offset: split(offset), lo, hi };
    launch(gpu, &RNG, &[("DIST", code)], &[], &[y.buf], &p, grid_for(n.div_ceil(4), 64), Cost::elems(n, 1, 40.0))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct DropoutParams {
    n: u32,
    x_off: u32,
    y_off: u32,
    prob: f32,
    key: [u32; 2],
    offset: [u32; 2],
}

/// Records `y = x · keep / (1 − prob)` over `n` elements.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn dropout(gpu: &Gpu, prob: f32, seed: u64, offset: u64, n: usize, x: Span, y: Span) -> Result<()> {
    let p = DropoutParams { n: n as u32, x_off: x.off, y_off: y.off, prob, key: rng::key(seed), offset: split(offset) };
    launch(gpu, &DROPOUT, &[], &[], &[x.buf, y.buf], &p, grid_for(n, 256), Cost::elems(n, 2, 40.0))
}
