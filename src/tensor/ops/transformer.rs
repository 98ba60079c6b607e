//! A whole minGPT stack for inference in one op (see [`crate::nn::Gpt`]).

use super::{contiguous, span};
use crate::cpu::transformer::{self as cpu, GptPlan};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::transformer as k;
use crate::tensor::{by_precision, same_device, Elem, Tensor};

fn run_cpu<T: Elem>(p: &GptPlan, x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let mut y = vec![T::zero(); p.len()];
    cpu::gpt_infer(p, &T::view(x), &T::view(w), &mut y);
    Ok(T::tensor(y, &[p.batch, p.tokens, p.width]))
}

/// Checks that every tensor the plan names lies inside the flat buffer of `n` elements.
fn check_plan(p: &GptPlan, n: usize) -> Result<()> {
    let e = p.width;
    let sizes = [e, e, e * e, e, e * e, e, e * e, e, e * e, e, e, e, 4 * e * e, 4 * e, 4 * e * e, e];
    let mut spans: Vec<(usize, usize)> = p.blocks.iter().flat_map(|b| b.iter().copied().zip(sizes)).collect();
    spans.extend([(p.ln_f[0], e), (p.ln_f[1], e)]);
    spans.extend(p.pos.map(|o| (o, p.tokens * e)));
    if let Some((tw, tb, din)) = p.tok {
        spans.extend([(tw, din * e), (tb, e)]);
    }
    match spans.iter().find(|(o, len)| o + len > n) {
        Some((o, len)) => {
            Err(Error::shape("gpt_infer", format!("parameter span {o}..{} outside the flat buffer of {n}", o + len)))
        }
        None => Ok(()),
    }
}

/// Runs the stack described by `p` (token projection and positions if any, every block, the
/// final LayerNorm) over `x`, reading the parameters from the model's flat buffer `w`. No gradient.
/// On the GPU this is one dispatch (`shaders/transformer/gpt_infer.wgsl`) when
/// [`k::supported`] accepts the configuration.
///
/// # Shapes
/// `x: [batch, tokens, width]` (`[batch, tokens, din]` with a token projection), `w: [n]` →
/// `[batch, tokens, width]`.
///
/// # Errors
/// [`Error::Shape`] if `x` does not match the plan or a parameter lies outside `w`;
/// [`Error::InvalidArgument`] for heads that do not divide the width or (GPU) a configuration
/// the fused kernel does not support; device errors.
pub fn gpt_infer(x: &Tensor, w: &Tensor, p: &GptPlan) -> Result<Tensor> {
    gpt_infer_with(x, w, p, None)
}

/// [`gpt_infer`] with the GPU kernel chosen (tests): `Some(true)` the subgroup kernel,
/// `Some(false)` the plain one, `None` the adapter's best.
///
/// # Shapes
/// As [`gpt_infer`].
///
/// # Errors
/// As [`gpt_infer`], and [`Error::InvalidArgument`] for the subgroup kernel on an adapter
/// without subgroups of at least 8.
pub fn gpt_infer_with(x: &Tensor, w: &Tensor, p: &GptPlan, share: Option<bool>) -> Result<Tensor> {
    let din = p.tok.map_or(p.width, |t| t.2);
    if x.shape() != [p.batch, p.tokens, din] || w.rank() != 1 {
        return Err(Error::shape(
            "gpt_infer",
            format!("x {:?}, w {:?} for a plan of [{}, {}, {din}]", x.shape(), w.shape(), p.batch, p.tokens),
        ));
    }
    if p.heads == 0 || !p.width.is_multiple_of(p.heads) {
        return Err(Error::invalid("gpt_infer", format!("{} heads do not divide width {}", p.heads, p.width)));
    }
    check_plan(p, w.numel())?;
    match same_device("gpt_infer", &[x, w])? {
        Device::Gpu(g) => {
            let x = contiguous(x)?;
            let y = Tensor::uninit(&g, &[p.batch, p.tokens, p.width])?;
            if !p.is_empty() {
                let share = share.unwrap_or_else(|| crate::kernels::subgroups_of_8(&g));
                k::gpt_infer_with(&g, p, span(&x), span(w), span(&y), share)?;
            }
            Ok(y)
        }
        d => by_precision!(d, run_cpu(p, x, w)),
    }
}
