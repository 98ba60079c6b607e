//! A chain of small dense ops on single rows in one op (the heads of a network for inference).

use super::{contiguous, span};
use crate::cpu::mlp_chain::{self as cpu, ChainOp, ChainPlan, Slot};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::mlp as k;
use crate::tensor::{by_precision, same_device, Elem, Tensor};

fn run_cpu<T: Elem>(p: &ChainPlan, x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let mut y = vec![T::zero(); p.rows * p.out_width];
    cpu::chain_infer(p, &T::view(x), &T::view(w), &mut y);
    Ok(T::tensor(y, &[p.rows, p.out_width]))
}

/// Checks every slot against the scratch and every parameter span against `n` elements.
fn check(p: &ChainPlan, n: usize) -> Result<()> {
    let bad = |what: String| Err(Error::shape("chain_infer", what));
    let slot_ok = |s: &Slot| s.at + s.len <= p.scratch;
    for op in &p.ops {
        let (slots, params): (Vec<Slot>, Vec<(usize, usize)>) = match *op {
            ChainOp::Linear { src, dst, w, b, .. } => {
                (vec![src, dst], [(w, src.len * dst.len)].into_iter().chain(b.map(|b| (b, dst.len))).collect())
            }
            ChainOp::Map { src, dst, .. } => (vec![src, dst], vec![]),
            ChainOp::Add { a, b, dst } => (vec![a, b, dst], vec![]),
            ChainOp::LogSoftmax { v } => (vec![v], vec![]),
            ChainOp::Store { src, out } => {
                if out + src.len > p.out_width {
                    return bad(format!("{op:?} writes past the output row of {}", p.out_width));
                }
                (vec![src], vec![])
            }
        };
        if slots.windows(2).any(|s| s[0].len != s[1].len) && !matches!(op, ChainOp::Linear { .. }) {
            return bad(format!("{op:?}: operands of different lengths"));
        }
        if !slots.iter().all(slot_ok) {
            return bad(format!("{op:?} outside the scratch of {}", p.scratch));
        }
        if let Some((o, len)) = params.iter().find(|(o, len)| o + len > n) {
            return bad(format!("parameter span {o}..{} outside the flat buffer of {n}", o + len));
        }
    }
    Ok(())
}

/// Runs the chain of `p` on each input row, reading parameters from the model's flat buffer
/// `w`. No gradient. On the GPU this is one dispatch (`shaders/mlp/chain_infer.wgsl`) when
/// [`k::supported`] accepts the plan, two when a single row is shared out among workgroups
/// ([`k::split_of`]).
///
/// # Shapes
/// `x`: at least `(rows − 1)·in_stride + in_off + in_width` elements; `w: [n]` →
/// `[rows, out_width]`.
///
/// # Errors
/// [`Error::Shape`] for an input too short, a slot outside the scratch or a parameter outside
/// `w`; [`Error::InvalidArgument`] (GPU) for a plan the kernel does not support; device errors.
pub fn chain_infer(x: &Tensor, w: &Tensor, p: &ChainPlan) -> Result<Tensor> {
    chain_infer_with(x, w, p, None)
}

/// [`chain_infer`] with the GPU kernel chosen (tests): `Some(true)` the subgroup kernel,
/// `Some(false)` the plain one, `None` the adapter's best.
///
/// # Shapes
/// As [`chain_infer`].
///
/// # Errors
/// As [`chain_infer`], and [`Error::InvalidArgument`] for the subgroup kernel on an adapter
/// without subgroups of at least 8.
pub fn chain_infer_with(x: &Tensor, w: &Tensor, p: &ChainPlan, share: Option<bool>) -> Result<Tensor> {
    let need = if p.rows == 0 { 0 } else { (p.rows - 1) * p.in_stride + p.in_off + p.in_width };
    if x.numel() < need || w.rank() != 1 || p.in_width > p.scratch {
        return Err(Error::shape(
            "chain_infer",
            format!(
                "x {:?} (need {need} elements), w {:?}, input {} of scratch {}",
                x.shape(),
                w.shape(),
                p.in_width,
                p.scratch
            ),
        ));
    }
    check(p, w.numel())?;
    match same_device("chain_infer", &[x, w])? {
        Device::Gpu(g) => {
            let x = contiguous(x)?;
            let y = Tensor::uninit(&g, &[p.rows, p.out_width])?;
            if p.rows > 0 && p.out_width > 0 {
                // The scratch a split chain's two dispatches exchange (else unused).
                let xn = k::split_of(p).map_or(1, |s| p.rows * s.exchange_row(p));
                let xch = Tensor::uninit(&g, &[xn])?;
                let share = share.unwrap_or_else(|| crate::kernels::subgroups_of_8(&g));
                k::chain_infer_with(&g, p, span(&x), span(w), span(&y), span(&xch), share)?;
            }
            Ok(y)
        }
        d => by_precision!(d, run_cpu(p, x, w)),
    }
}
