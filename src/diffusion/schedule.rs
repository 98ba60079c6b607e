//! Noise schedules and the EDM preconditioning (spec §4).

use serde::{Deserialize, Serialize};

/// σ spacing of a VE sampler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SigmaSchedule {
    /// Evenly spaced σ.
    Linear,
    /// Evenly spaced log σ.
    Exponential,
    /// Karras et al. (2022) with exponent ρ.
    Karras,
}

/// `steps` decreasing noise levels from `max` to `min`, then a final 0 (`steps + 1` values).
pub fn sigmas(schedule: SigmaSchedule, steps: usize, min: f64, max: f64, rho: f64) -> Vec<f64> {
    let n = steps.max(1);
    let frac = |i: usize| if n == 1 { 0.0 } else { i as f64 / (n - 1) as f64 };
    let mut s: Vec<f64> = (0..n)
        .map(|i| match schedule {
            SigmaSchedule::Linear => max + frac(i) * (min - max),
            SigmaSchedule::Exponential => (max.ln() + frac(i) * (min.ln() - max.ln())).exp(),
            SigmaSchedule::Karras => {
                let (a, b) = (max.powf(1.0 / rho), min.powf(1.0 / rho));
                (a + frac(i) * (b - a)).powf(rho)
            }
        })
        .collect();
    s.push(0.0);
    s
}

/// Karras preconditioning with data std `sigma_data` (BESO: 0.5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edm {
    /// σ_data.
    pub sigma_data: f64,
}

impl Edm {
    /// `σ_d²/(σ² + σ_d²)`.
    pub fn c_skip(&self, s: f64) -> f64 {
        let d2 = self.sigma_data * self.sigma_data;
        d2 / (s * s + d2)
    }
    /// `σσ_d/√(σ² + σ_d²)`.
    pub fn c_out(&self, s: f64) -> f64 {
        s * self.sigma_data / (s * s + self.sigma_data * self.sigma_data).sqrt()
    }
    /// `1/√(σ² + σ_d²)`.
    pub fn c_in(&self, s: f64) -> f64 {
        1.0 / (s * s + self.sigma_data * self.sigma_data).sqrt()
    }
}

/// A log-logistic noise level from a uniform `u ∈ (0, 1)`: `exp(loc + scale·logit(u))`,
/// clipped to `[min, max]` (BESO's training distribution, loc `ln σ_data`, scale 0.5).
pub fn log_logistic(u: f64, loc: f64, scale: f64, min: f64, max: f64) -> f64 {
    let u = u.clamp(1e-12, 1.0 - 1e-12);
    (loc + scale * (u / (1.0 - u)).ln()).exp().clamp(min, max)
}

/// The DDPM cosine schedule as D3IL computes it: `ᾱ_t` for `t = 0..T−1` (t = 0 least noisy),
/// from `linspace(0, T+1, T+1)`, s = 0.008, β clipped to 0.999.
pub fn cosine_alpha_bars(timesteps: usize) -> Vec<f64> {
    let steps = timesteps + 1;
    let s = 0.008;
    let f = |x: f64| (((x / steps as f64) + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2);
    let ac: Vec<f64> = (0..steps).map(|i| f(i as f64 * steps as f64 / (steps - 1) as f64) / f(0.0)).collect();
    let mut out = Vec::with_capacity(timesteps);
    let mut prod = 1.0;
    for t in 0..timesteps {
        let beta = (1.0 - ac[t + 1] / ac[t]).clamp(0.0, 0.999);
        prod *= 1.0 - beta;
        out.push(prod);
    }
    out
}
