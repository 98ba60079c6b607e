//! Elementwise ops: unary functions, broadcasting binary arithmetic, fill.

use super::span;
use crate::cpu::elementwise::{self as cpu, Binary, Broadcast, Side, Unary};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::elementwise as k;
use crate::tensor::{by_precision, same_device, Elem, Tensor};

fn unary_cpu<T: Elem>(op: Unary, x: &Tensor) -> Result<Tensor> {
    let xs = T::view(x);
    let mut y = vec![T::zero(); xs.len()];
    cpu::unary(op, &xs, &mut y);
    Ok(T::tensor(y, x.shape()))
}

/// `f(x)` elementwise.
///
/// # Errors
/// GPU errors.
pub fn unary(x: &Tensor, op: Unary) -> Result<Tensor> {
    match x.device() {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, x.shape())?;
            k::unary(&g, op, x.numel(), span(x), span(&y))?;
            Ok(y)
        }
        d => by_precision!(d, unary_cpu(op, x)),
    }
}

fn unary_bwd_cpu<T: Elem>(op: Unary, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let (xs, dys) = (T::view(x), T::view(dy));
    let mut dx = vec![T::zero(); xs.len()];
    cpu::unary_bwd(op, &xs, &dys, &mut dx);
    Ok(T::tensor(dx, x.shape()))
}

/// Gradient of [`unary`]: `dy · f'(x)`.
///
/// # Errors
/// [`Error::Shape`] if `x` and `dy` differ in shape; device mismatch; GPU errors.
pub fn unary_bwd(x: &Tensor, dy: &Tensor, op: Unary) -> Result<Tensor> {
    if x.shape() != dy.shape() {
        return Err(Error::shape("unary_bwd", format!("x {:?} vs dy {:?}", x.shape(), dy.shape())));
    }
    match same_device("unary_bwd", &[x, dy])? {
        Device::Gpu(g) => {
            let dx = Tensor::uninit(&g, x.shape())?;
            k::unary_bwd(&g, op, x.numel(), span(x), span(dy), span(&dx))?;
            Ok(dx)
        }
        d => by_precision!(d, unary_bwd_cpu(op, x, dy)),
    }
}

fn binary_cpu<T: Elem>(op: Binary, bc: &Broadcast, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let (av, bv) = (T::view(a), T::view(b));
    let mut y = vec![T::zero(); bc.len()];
    cpu::binary(op, bc, &av, &bv, &mut y);
    Ok(T::tensor(y, shape))
}

/// `a ∘ b` with NumPy broadcasting.
///
/// # Errors
/// [`Error::Shape`] for incompatible shapes; device mismatch; GPU errors.
pub fn binary(a: &Tensor, b: &Tensor, op: Binary) -> Result<Tensor> {
    let (bc, shape) = Broadcast::new(a.shape(), b.shape())?;
    match same_device("binary", &[a, b])? {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, &shape)?;
            k::binary(&g, op, &bc, span(a), span(b), span(&y))?;
            Ok(y)
        }
        d => by_precision!(d, binary_cpu(op, &bc, a, b, &shape)),
    }
}

fn binary_bwd_cpu<T: Elem>(
    op: Binary,
    bc: &Broadcast,
    side: Side,
    a: &Tensor,
    b: &Tensor,
    dy: &Tensor,
) -> Result<Tensor> {
    let operand = if side == Side::A { a } else { b };
    let (av, bv, dyv) = (T::view(a), T::view(b), T::view(dy));
    let mut d = vec![T::zero(); operand.numel()];
    cpu::binary_bwd(op, bc, side, &av, &bv, &dyv, &mut d);
    Ok(T::tensor(d, operand.shape()))
}

/// Whether `operand` broadcasts against `out` only along leading dims (its shape, with leading
/// 1s dropped, is a suffix of `out`'s): then its gradient is a sum over rows.
fn leading_broadcast(operand: &[usize], out: &[usize]) -> bool {
    let first = operand.iter().position(|&d| d != 1).unwrap_or(operand.len());
    let core = &operand[first..];
    out.len() >= core.len() && &out[out.len() - core.len()..] == core
}

/// Gradient of operand `side` of [`binary`], reduced over its broadcast dims (same shape as
/// the operand). Unbroadcast operands take the direct forms (`dy`, `−dy`, `dy·b`, `dy/b`, …);
/// operands broadcast along leading dims reduce the full-size contribution with the parallel
/// column sum; anything else uses the general broadcast-reduction kernel.
///
/// # Errors
/// [`Error::Shape`] if `dy` is not the broadcast shape; device mismatch; GPU errors.
pub fn binary_bwd(a: &Tensor, b: &Tensor, dy: &Tensor, op: Binary, side: Side) -> Result<Tensor> {
    let (bc, shape) = Broadcast::new(a.shape(), b.shape())?;
    if dy.shape() != shape.as_slice() {
        return Err(Error::shape("binary_bwd", format!("dy {:?} vs output {shape:?}", dy.shape())));
    }
    same_device("binary_bwd", &[a, b, dy])?;
    let (operand, other) = if side == Side::A { (a, b) } else { (b, a) };
    // The full-size contribution dy · ∂(a∘b)/∂operand, when it has a direct form.
    let direct = match (op, side) {
        (Binary::Add, _) => Some(dy.clone()),
        (Binary::Sub, Side::A) => Some(dy.clone()),
        (Binary::Sub, Side::B) => Some(unary(dy, Unary::Neg)?),
        (Binary::Mul, _) => Some(binary(dy, other, Binary::Mul)?),
        (Binary::Div, Side::A) => Some(binary(dy, b, Binary::Div)?),
        (Binary::Div, Side::B) => None,
    };
    match direct {
        Some(full) if operand.shape() == shape.as_slice() => Ok(full),
        Some(full) if leading_broadcast(operand.shape(), &shape) => {
            let n = operand.numel().max(1);
            super::sum_leading(&full.reshape(&[full.numel() / n, n])?)?.reshape(operand.shape())
        }
        _ => binary_bwd_general(a, b, dy, op, side, &bc),
    }
}

fn binary_bwd_general(a: &Tensor, b: &Tensor, dy: &Tensor, op: Binary, side: Side, bc: &Broadcast) -> Result<Tensor> {
    let operand = if side == Side::A { a } else { b };
    match dy.device() {
        Device::Gpu(g) => {
            let d = Tensor::uninit(&g, operand.shape())?;
            k::binary_bwd(&g, op, bc, side, operand.numel(), span(a), span(b), span(dy), span(&d))?;
            Ok(d)
        }
        d => by_precision!(d, binary_bwd_cpu(op, bc, side, a, b, dy)),
    }
}

/// Overwrites every element of `t` with `value` (in place, ordered with recorded work).
///
/// # Errors
/// GPU errors.
pub fn fill(t: &Tensor, value: f32) -> Result<()> {
    match t.device() {
        Device::Gpu(g) => k::fill(&g, t.numel(), span(t), value),
        Device::Cpu => {
            f32::view_mut(t).iter_mut().for_each(|v| *v = value);
            Ok(())
        }
        Device::CpuF64 => {
            f64::view_mut(t).iter_mut().for_each(|v| *v = f64::from(value));
            Ok(())
        }
    }
}
