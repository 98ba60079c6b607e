//! Random tensors and dropout from the counter-based Philox stream (identical bits on the
//! CPU and the GPU).

use super::span;
use crate::cpu::rng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::rng::{self as k, Dist};
use crate::tensor::{numel, Elem, Tensor};

fn fill_cpu<T: Elem>(dist: Dist, seed: u64, offset: u64, shape: &[usize]) -> Result<Tensor> {
    let mut v = vec![T::zero(); numel(shape)];
    match dist {
        Dist::Uniform { lo, hi } => rng::uniform(seed, offset, lo, hi, &mut v),
        Dist::Normal { mean, std } => rng::normal(seed, offset, mean, std, &mut v),
    }
    Ok(T::tensor(v, shape))
}

/// A tensor of random numbers: element `i` is element `i` of Philox stream `(seed, offset)`.
///
/// # Errors
/// GPU errors.
pub fn random(device: &Device, shape: &[usize], dist: Dist, seed: u64, offset: u64) -> Result<Tensor> {
    match device {
        Device::Gpu(g) => {
            let y = Tensor::uninit(g, shape)?;
            k::fill(g, dist, seed, offset, numel(shape), span(&y))?;
            Ok(y)
        }
        d => crate::tensor::by_precision!(d, fill_cpu(dist, seed, offset, shape)),
    }
}

fn dropout_cpu<T: Elem>(x: &Tensor, prob: f32, seed: u64, offset: u64) -> Result<Tensor> {
    let xs = T::view(x);
    let mut y = vec![T::zero(); xs.len()];
    rng::dropout(seed, offset, prob, &xs, &mut y);
    Ok(T::tensor(y, x.shape()))
}

/// Inverted dropout: zero each element with probability `prob` (mask from Philox stream
/// `(seed, offset)`), scale the rest by `1/(1−prob)`. Its gradient is the same call on `dy`.
///
/// # Errors
/// [`Error::InvalidArgument`] unless `0 ≤ prob < 1`; GPU errors.
pub fn dropout(x: &Tensor, prob: f32, seed: u64, offset: u64) -> Result<Tensor> {
    if !(0.0..1.0).contains(&prob) {
        return Err(Error::invalid("dropout", format!("probability {prob} outside [0, 1)")));
    }
    match x.device() {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, x.shape())?;
            k::dropout(&g, prob, seed, offset, x.numel(), span(x), span(&y))?;
            Ok(y)
        }
        d => crate::tensor::by_precision!(d, dropout_cpu(x, prob, seed, offset)),
    }
}
