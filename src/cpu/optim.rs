//! Optimiser updates (CPU twins of `shaders/optim/`).

use super::Real;

/// The scalars of one Adam step, as the kernel receives them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamScalars {
    /// `lr / (1 − β1^t)`.
    pub step_size: f32,
    /// `√(1 − β2^t)`.
    pub bc2_sqrt: f32,
    /// `1 − β1`.
    pub one_minus_beta1: f32,
    /// `β2`.
    pub beta2: f32,
    /// `1 − β2`.
    pub one_minus_beta2: f32,
    /// `eps`.
    pub eps: f32,
    /// L2 weight decay added to the gradient (torch.optim.Adam's `weight_decay`).
    pub weight_decay: f32,
}

impl AdamScalars {
    /// The scalars of step `t` (1-based), computed in f64 as PyTorch does on the host.
    pub fn new(lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64, t: u64) -> Self {
        let bc1 = 1.0 - beta1.powi(t as i32);
        let bc2 = 1.0 - beta2.powi(t as i32);
        AdamScalars {
            step_size: (lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            eps: eps as f32,
            weight_decay: weight_decay as f32,
        }
    }
}

/// One Adam step in place (operation order of `shaders/optim/adam.wgsl`).
pub fn adam_step<T: Real>(s: &AdamScalars, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    let c = |x: f32| T::of(f64::from(x));
    let (step, bc2, omb1, b2, omb2, eps, wd) = (
        c(s.step_size),
        c(s.bc2_sqrt),
        c(s.one_minus_beta1),
        c(s.beta2),
        c(s.one_minus_beta2),
        c(s.eps),
        c(s.weight_decay),
    );
    for i in 0..p.len() {
        let mut grad = g[i];
        if s.weight_decay != 0.0 {
            grad += wd * p[i];
        }
        m[i] = m[i] + omb1 * (grad - m[i]);
        v[i] = v[i] * b2 + (omb2 * grad) * grad;
        let denom = v[i].sqrt() / bc2 + eps;
        p[i] += (-step * m[i]) / denom;
    }
}

/// `shadow ← shadow − (1 − decay)·(shadow − p)`.
pub fn ema_step<T: Real>(decay: f32, p: &[T], shadow: &mut [T]) {
    let k = T::of(1.0 - f64::from(decay));
    for (s, &x) in shadow.iter_mut().zip(p) {
        *s = *s - k * (*s - x);
    }
}
