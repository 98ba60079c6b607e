//! Reductions over the last dimension, softmaxes, and sums over leading dimensions.

use super::span;
use crate::cpu::reduce::{self as cpu, Reduce, Softmax};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::reduce as k;
use crate::tensor::{by_precision, same_device, Elem, Tensor};

fn rows_n(x: &Tensor, op: &'static str) -> Result<(usize, usize)> {
    let n = x.last_dim();
    if n == 0 {
        return Err(Error::shape(op, format!("empty last dimension in {:?}", x.shape())));
    }
    Ok((x.numel() / n, n))
}

fn lead_shape(x: &Tensor) -> Vec<usize> {
    let s = x.shape();
    s[..s.len().saturating_sub(1)].to_vec()
}

fn reduce_cpu<T: Elem>(op: Reduce, x: &Tensor, rows: usize, n: usize) -> Result<Tensor> {
    let xs = T::view(x);
    let mut y = vec![T::zero(); rows];
    cpu::reduce(op, &xs, n, &mut y);
    Ok(T::tensor(y, &lead_shape(x)))
}

/// Reduces the last dimension: `[..., n] → [...]`.
///
/// # Errors
/// [`Error::Shape`] for an empty last dimension; GPU errors.
pub fn reduce(x: &Tensor, op: Reduce) -> Result<Tensor> {
    let (rows, n) = rows_n(x, "reduce")?;
    match x.device() {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, &lead_shape(x))?;
            k::reduce_rows(&g, op, rows, n, span(x), span(&y))?;
            Ok(y)
        }
        d => by_precision!(d, reduce_cpu(op, x, rows, n)),
    }
}

fn reduce_bwd_cpu<T: Elem>(op: Reduce, x: &Tensor, y: &Tensor, dy: &Tensor, n: usize) -> Result<Tensor> {
    let (xs, ys, dys) = (T::view(x), T::view(y), T::view(dy));
    let mut dx = vec![T::zero(); xs.len()];
    cpu::reduce_bwd(op, &xs, &ys, &dys, n, &mut dx);
    Ok(T::tensor(dx, x.shape()))
}

/// Gradient of [`reduce`] given its input `x`, output `y` and the output gradient `dy`.
///
/// # Errors
/// [`Error::Shape`] if `y`/`dy` are not `x`'s leading shape; device mismatch; GPU errors.
pub fn reduce_bwd(x: &Tensor, y: &Tensor, dy: &Tensor, op: Reduce) -> Result<Tensor> {
    let (rows, n) = rows_n(x, "reduce_bwd")?;
    if y.numel() != rows || dy.numel() != rows {
        return Err(Error::shape(
            "reduce_bwd",
            format!("x {:?} with y {:?}, dy {:?}", x.shape(), y.shape(), dy.shape()),
        ));
    }
    match same_device("reduce_bwd", &[x, y, dy])? {
        Device::Gpu(g) => {
            let dx = Tensor::uninit(&g, x.shape())?;
            k::reduce_rows_bwd(&g, op, rows, n, span(x), span(y), span(dy), span(&dx))?;
            Ok(dx)
        }
        d => by_precision!(d, reduce_bwd_cpu(op, x, y, dy, n)),
    }
}

fn softmax_cpu<T: Elem>(op: Softmax, x: &Tensor, n: usize) -> Result<Tensor> {
    let xs = T::view(x);
    let mut y = vec![T::zero(); xs.len()];
    cpu::softmax(op, &xs, n, &mut y);
    Ok(T::tensor(y, x.shape()))
}

/// Softmax or log-softmax over the last dimension.
///
/// # Errors
/// [`Error::Shape`] for an empty last dimension; GPU errors.
pub fn softmax(x: &Tensor, op: Softmax) -> Result<Tensor> {
    let (rows, n) = rows_n(x, "softmax")?;
    match x.device() {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, x.shape())?;
            k::softmax(&g, op, rows, n, span(x), span(&y))?;
            Ok(y)
        }
        d => by_precision!(d, softmax_cpu(op, x, n)),
    }
}

fn softmax_bwd_cpu<T: Elem>(op: Softmax, y: &Tensor, dy: &Tensor, n: usize) -> Result<Tensor> {
    let (ys, dys) = (T::view(y), T::view(dy));
    let mut dx = vec![T::zero(); ys.len()];
    cpu::softmax_bwd(op, &ys, &dys, n, &mut dx);
    Ok(T::tensor(dx, y.shape()))
}

/// Gradient of [`softmax`] from its output `y`.
///
/// # Errors
/// [`Error::Shape`] if `y` and `dy` differ; device mismatch; GPU errors.
pub fn softmax_bwd(y: &Tensor, dy: &Tensor, op: Softmax) -> Result<Tensor> {
    if y.shape() != dy.shape() {
        return Err(Error::shape("softmax_bwd", format!("y {:?} vs dy {:?}", y.shape(), dy.shape())));
    }
    let (rows, n) = rows_n(y, "softmax_bwd")?;
    match same_device("softmax_bwd", &[y, dy])? {
        Device::Gpu(g) => {
            let dx = Tensor::uninit(&g, y.shape())?;
            k::softmax_bwd(&g, op, rows, n, span(y), span(dy), span(&dx))?;
            Ok(dx)
        }
        d => by_precision!(d, softmax_bwd_cpu(op, y, dy, n)),
    }
}

fn sum_leading_cpu<T: Elem>(x: &Tensor, n: usize) -> Result<Tensor> {
    let xs = T::view(x);
    let mut y = vec![T::zero(); n];
    cpu::sum_leading(&xs, n, &mut y);
    Ok(T::tensor(y, &[n]))
}

/// Sums over every dimension but the last: `[..., n] → [n]` (bias gradients). Deterministic.
///
/// # Errors
/// [`Error::Shape`] for an empty last dimension; GPU errors.
pub fn sum_leading(x: &Tensor) -> Result<Tensor> {
    let (rows, n) = rows_n(x, "sum_leading")?;
    match x.device() {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, &[n])?;
            k::sum_leading(&g, rows, n, span(x), span(&y))?;
            Ok(y)
        }
        d => by_precision!(d, sum_leading_cpu(x, n)),
    }
}

/// Sum of all elements, as a tensor of shape `[]` (deterministic tree on the GPU).
///
/// # Errors
/// GPU errors.
pub fn sum_all(x: &Tensor) -> Result<Tensor> {
    let flat = x.reshape(&[x.numel(), 1])?;
    sum_leading(&flat)?.reshape(&[])
}
