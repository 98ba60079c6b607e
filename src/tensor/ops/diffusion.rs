//! Fused diffusion sampler steps (see [`crate::cpu::diffusion`]).

use super::span;
use crate::cpu::diffusion::{self as cpu, Step};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::diffusion as k;
use crate::tensor::{by_precision, same_device, Elem, Tensor};

fn step_cpu<T: Elem>(kind: Step, c: &[f32; 8], width: usize, x: &Tensor, f: &Tensor, aux: &Tensor) -> Result<Tensor> {
    let mut y = vec![T::zero(); x.numel()];
    cpu::step(kind, c, width, &T::view(x), &T::view(f), &T::view(aux), &mut y);
    Ok(T::tensor(y, x.shape()))
}

/// One fused sampler step or score read-out: `y = step(x, F, aux)` elementwise with the
/// coefficients `c` of `kind` (see [`crate::cpu::diffusion`]).
///
/// # Shapes
/// `x, f: [..., width]`; `aux` like `x`, or one value per row (`[numel / width]`) for the
/// score modes.
///
/// # Errors
/// [`Error::Shape`] on mismatched sizes; device mismatch; GPU errors.
pub fn sampler_step(kind: Step, c: &[f32; 8], x: &Tensor, f: &Tensor, aux: &Tensor) -> Result<Tensor> {
    let width = x.last_dim().max(1);
    let per_row = matches!(kind, Step::VeScore | Step::VpScore);
    let want_aux = if per_row { x.numel() / width } else { x.numel() };
    if f.shape() != x.shape() || (aux.numel() != want_aux && !(kind == Step::Ve && c[4] == 0.0)) {
        return Err(Error::shape(
            "sampler_step",
            format!(
                "x {:?}, F {:?}, aux {:?} ({kind:?} needs {want_aux} aux values)",
                x.shape(),
                f.shape(),
                aux.shape()
            ),
        ));
    }
    match same_device("sampler_step", &[x, f, aux])? {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, x.shape())?;
            k::step(&g, kind, c, x.numel(), width, span(x), span(f), span(aux), span(&y))?;
            Ok(y)
        }
        d => by_precision!(d, step_cpu(kind, c, width, x, f, aux)),
    }
}
