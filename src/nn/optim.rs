//! Adam (one fused dispatch over all its parameters), a linear-decay learning-rate schedule,
//! and a parameter EMA.

use super::{ParamId, ParamStore};
use crate::cpu::optim::{self as cpu, AdamScalars};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::{elementwise::Span, optim as k};
use crate::tensor::{Elem, Tensor};

/// Adam hyper-parameters (PyTorch's defaults).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    /// Learning rate (a schedule may override it per step).
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// Adam over a contiguous range of a store's parameters.
pub struct Adam {
    /// Hyper-parameters.
    pub cfg: AdamConfig,
    steps: u64,
    start: usize,
    m: Tensor,
    v: Tensor,
}

fn span(t: &Tensor) -> Span<'_> {
    Span { buf: t.buffer(), off: t.off() }
}

fn step_cpu<T: Elem>(s: &AdamScalars, p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) {
    let (mut pv, gv, mut mv, mut vv) = (T::view_mut(p), T::view(g), T::view_mut(m), T::view_mut(v));
    cpu::adam_step(s, &mut pv, &gv, &mut mv, &mut vv);
}

impl Adam {
    /// Adam over every parameter of `store`.
    ///
    /// # Errors
    /// Device errors allocating the moments.
    pub fn new(store: &ParamStore, cfg: AdamConfig) -> Result<Self> {
        Self::over(store, 0, store.numel(), cfg)
    }

    /// Adam over the consecutive parameters `ids` (e.g. a gating network with its own optimiser).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `ids` are not consecutive; device errors.
    pub fn for_params(store: &ParamStore, ids: &[ParamId], cfg: AdamConfig) -> Result<Self> {
        let (start, end) = store.span(ids)?;
        Self::over(store, start, end, cfg)
    }

    fn over(store: &ParamStore, start: usize, end: usize, cfg: AdamConfig) -> Result<Self> {
        let n = end - start;
        let dev = store.device();
        Ok(Adam { cfg, steps: 0, start, m: Tensor::zeros(&dev, &[n])?, v: Tensor::zeros(&dev, &[n])? })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Applies one update with learning rate `lr` from the store's gradient buffer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a non-finite learning rate; device errors.
    pub fn step(&mut self, store: &ParamStore, lr: f64) -> Result<()> {
        if !lr.is_finite() {
            return Err(Error::invalid("adam", format!("learning rate {lr}")));
        }
        self.steps += 1;
        let c = &self.cfg;
        let s = AdamScalars::new(lr, c.beta1, c.beta2, c.eps, c.weight_decay, self.steps);
        let n = self.m.numel();
        let p = store.flat().view_flat(self.start, &[n])?;
        let g = store.flat_grad().view_flat(self.start, &[n])?;
        match store.device() {
            Device::Gpu(gpu) => k::adam(&gpu, &s, n, span(&p), span(&g), span(&self.m), span(&self.v)),
            d => {
                crate::tensor::by_precision!(d, step_cpu(&s, &p, &g, &self.m, &self.v));
                Ok(())
            }
        }
    }
}

/// `LinearLR`: the learning rate scales from `start_factor` to `end_factor` over `total` steps
/// and stays at `end_factor` after.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearDecay {
    /// Base learning rate.
    pub base: f64,
    /// Factor at step 0.
    pub start_factor: f64,
    /// Factor at and after step `total`.
    pub end_factor: f64,
    /// Steps of the ramp.
    pub total: u64,
}

impl LinearDecay {
    /// From `base` down to 0 over `total` steps.
    pub fn to_zero(base: f64, total: u64) -> Self {
        LinearDecay { base, start_factor: 1.0, end_factor: 0.0, total }
    }

    /// The learning rate for step `t` (0-based: the rate of the `t+1`-th update).
    pub fn lr(&self, t: u64) -> f64 {
        let frac = if self.total == 0 { 1.0 } else { t.min(self.total) as f64 / self.total as f64 };
        self.base * (self.start_factor + (self.end_factor - self.start_factor) * frac)
    }
}

/// Exponential moving average of a store's parameters (diffusion teachers sample with it),
/// with the usual warm-up: update `t` (0-based) uses `min(decay, (1 + t)/(10 + t))`, so the
/// random initialisation is forgotten within the first few hundred steps instead of lingering
/// at weight `decay^t` (5 % after 3000 steps at 0.999).
pub struct Ema {
    /// Decay per update after the warm-up.
    pub decay: f32,
    updates: u64,
    shadow: Tensor,
}

fn ema_cpu<T: Elem>(decay: f32, p: &Tensor, s: &Tensor) {
    let (pv, mut sv) = (T::view(p), T::view_mut(s));
    cpu::ema_step(decay, &pv, &mut sv);
}

impl Ema {
    /// Starts the average at the current parameters.
    ///
    /// # Errors
    /// Device errors.
    pub fn new(store: &ParamStore, decay: f32) -> Result<Self> {
        Ok(Ema { decay, updates: 0, shadow: crate::tensor::ops::copy(store.flat())? })
    }

    /// Moves the average towards the current parameters.
    ///
    /// # Errors
    /// Device errors.
    pub fn update(&mut self, store: &ParamStore) -> Result<()> {
        let n = self.shadow.numel();
        let decay = self.current_decay();
        self.updates += 1;
        match store.device() {
            Device::Gpu(g) => k::ema(&g, decay, n, span(store.flat()), span(&self.shadow)),
            d => {
                crate::tensor::by_precision!(d, ema_cpu(decay, store.flat(), &self.shadow));
                Ok(())
            }
        }
    }

    /// The decay the next update uses.
    pub fn current_decay(&self) -> f32 {
        let t = self.updates as f32;
        self.decay.min((1.0 + t) / (10.0 + t))
    }

    /// The averaged parameters, flat.
    pub fn values(&self) -> &Tensor {
        &self.shadow
    }
}
