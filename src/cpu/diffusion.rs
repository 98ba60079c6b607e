//! Fused diffusion sampler steps and score read-outs (CPU twin of `shaders/diffusion/step.wgsl`).
//!
//! Every step takes the current iterate `x`, the raw network output `F` at `x` and an auxiliary
//! array, and writes the next iterate `y`, elementwise. The preconditioning is folded in, so one
//! dispatch does "denoise + step". Coefficients `c[0..8]` per mode:
//! - [`Step::Ve`]: `D = c0·x + c1·F`, `d = (x − D)/c2`, `y = x + d·(c3 − c2) + c4·aux`
//!   (Euler / DDIM: `c3 = σ_next`, `c4 = 0`; Euler-ancestral: `c3 = σ_down`, `c4 = σ_up`, aux = noise).
//! - [`Step::VeHeun`]: the Heun corrector; `aux = F` at the Euler predictor `x₂ = x + d·(c3 − c2)`,
//!   `D₂ = c5·x₂ + c6·aux`, `d₂ = (x₂ − D₂)/c3`, `y = x + ½(d + d₂)(c3 − c2)`.
//! - [`Step::Vp`]: ε-prediction; `x₀ = (x − c1·F)/c0` clipped to `±c2` when `c2 > 0`,
//!   `ε' = (x − c0·x₀)/c1`, `y = c3·x₀ + c4·x + c5·ε' + c6·aux` (DDPM posterior or DDIM).
//! - [`Step::VeScore`]: `σ = aux[row]` per row of `width` values, `c7 = σ_data`;
//!   `y = (c_skip(σ)·x + c_out(σ)·F − x)/σ²`, the Tweedie score of the σ-smoothed marginal.
//! - [`Step::VpScore`]: `y = −F / aux[row]` (`aux = √(1 − ᾱ_t)` per row).

use super::Real;

/// The step kinds (the kernel's MODE define).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// VE Euler / DDIM / Euler-ancestral step.
    Ve = 0,
    /// VE Heun corrector.
    VeHeun = 1,
    /// VP (DDPM / DDIM) step.
    Vp = 2,
    /// VE score read-out with per-row σ.
    VeScore = 3,
    /// VP score read-out with per-row `√(1 − ᾱ_t)`.
    VpScore = 4,
}

/// Applies one fused step to `x` (see the module docs); `aux` has one value per element, or one
/// per row of `width` elements for the score modes.
///
/// # Panics
/// If the slices are shorter than `x`.
pub fn step<T: Real>(kind: Step, c: &[f32; 8], width: usize, x: &[T], f: &[T], aux: &[T], y: &mut [T]) {
    let c: [T; 8] = c.map(|v| T::of(f64::from(v)));
    let half = T::of(0.5);
    for i in 0..x.len() {
        let (xi, fi) = (x[i], f[i]);
        y[i] = match kind {
            Step::Ve => {
                let d = (xi - (c[0] * xi + c[1] * fi)) / c[2];
                xi + d * (c[3] - c[2]) + c[4] * aux[i]
            }
            Step::VeHeun => {
                let d = (xi - (c[0] * xi + c[1] * fi)) / c[2];
                let x2 = xi + d * (c[3] - c[2]);
                let d2 = (x2 - (c[5] * x2 + c[6] * aux[i])) / c[3];
                xi + half * (d + d2) * (c[3] - c[2])
            }
            Step::Vp => {
                let mut x0 = (xi - c[1] * fi) / c[0];
                if c[2] > T::zero() {
                    x0 = x0.max(-c[2]).min(c[2]);
                }
                let e = (xi - c[0] * x0) / c[1];
                c[3] * x0 + c[4] * xi + c[5] * e + c[6] * aux[i]
            }
            Step::VeScore => {
                let s = aux[i / width];
                let (s2, sd2) = (s * s, c[7] * c[7]);
                let skip = sd2 / (s2 + sd2);
                let out = s * c[7] / (s2 + sd2).sqrt();
                (skip * xi + out * fi - xi) / s2
            }
            Step::VpScore => -fi / aux[i / width],
        };
    }
}
