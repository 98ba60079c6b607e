//! Launchers of `shaders/optim/`: fused Adam and parameter EMA.

use super::elementwise::Span;
use super::{grid_for, launch, shader, Cost, Kernel, R, W};
use crate::cpu::optim::AdamScalars;
use crate::device::Gpu;
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// One Adam step over a flat range.
pub const ADAM: Kernel = Kernel {
    source: shader!("optim/adam.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[W, R, W, W],
    variants: &[&[]],
};
/// Parameter EMA.
pub const EMA: Kernel =
    Kernel { source: shader!("optim/ema.wgsl"), includes: &[], entry: "main", storage: &[R, W], variants: &[&[]] };

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[ADAM, EMA];

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdamParams {
    n: u32,
    p_off: u32,
    g_off: u32,
    mv_off: u32,
    s: [f32; 7],
    pad: f32,
}

/// Records one Adam step over `n` scalars (`m` and `v` share an offset).
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn adam(gpu: &Gpu, s: &AdamScalars, n: usize, p: Span, g: Span, m: Span, v: Span) -> Result<()> {
    let params = AdamParams {
        n: n as u32,
        p_off: p.off,
        g_off: g.off,
        mv_off: m.off,
        s: [s.step_size, s.bc2_sqrt, s.one_minus_beta1, s.beta2, s.one_minus_beta2, s.eps, s.weight_decay],
        pad: 0.0,
    };
    debug_assert_eq!(m.off, v.off);
    launch(gpu, &ADAM, &[], &[], &[p.buf, g.buf, m.buf, v.buf], &params, grid_for(n, 256), Cost::elems(n, 7, 15.0))
}

/// Records `shadow ← shadow − (1 − decay)(shadow − p)` over `n` scalars.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn ema(gpu: &Gpu, decay: f32, n: usize, p: Span, shadow: Span) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        n: u32,
        s_off: u32,
        p_off: u32,
        k: f32,
    }
    let params = P { n: n as u32, s_off: shadow.off, p_off: p.off, k: 1.0 - decay };
    launch(gpu, &EMA, &[], &[], &[p.buf, shadow.buf], &params, grid_for(n, 256), Cost::elems(n, 3, 3.0))
}
