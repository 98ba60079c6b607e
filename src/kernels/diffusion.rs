//! Launcher of `shaders/diffusion/`: fused sampler steps and score read-outs.

use super::elementwise::Span;
use super::{grid_for, launch, shader, Cost, Kernel, R, W};
use crate::cpu::diffusion::Step;
use crate::device::Gpu;
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// The fused step, specialised by MODE (= [`Step`] as u32).
pub const STEP: Kernel = Kernel {
    source: shader!("diffusion/step.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, W],
    variants: &[&[("MODE", 0)], &[("MODE", 1)], &[("MODE", 2)], &[("MODE", 3)], &[("MODE", 4)]],
};

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[STEP];

/// Records one fused step over `n` elements (see [`crate::cpu::diffusion`]).
///
/// # Errors
/// Kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn step(
    gpu: &Gpu,
    kind: Step,
    c: &[f32; 8],
    n: usize,
    width: usize,
    x: Span,
    f: Span,
    aux: Span,
    y: Span,
) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        u: [u32; 8],
        c: [f32; 8],
    }
    let p = P { u: [n as u32, width.max(1) as u32, x.off, f.off, aux.off, y.off, 0, 0], c: *c };
    launch(
        gpu,
        &STEP,
        &[("MODE", kind as u32)],
        &[],
        &[x.buf, f.buf, aux.buf, y.buf],
        &p,
        grid_for(n, 256),
        Cost::elems(n, 4, 10.0),
    )
}
