//! Per-dimension standardisation of states and actions (the teacher's scaler, spec §3.4),
//! stored in every checkpoint's metadata.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// `x_norm = (x − mean)/std` per dimension, for states and for actions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// State means.
    pub state_mean: Vec<f64>,
    /// State standard deviations.
    pub state_std: Vec<f64>,
    /// Action means.
    pub action_mean: Vec<f64>,
    /// Action standard deviations.
    pub action_std: Vec<f64>,
}

fn fit(x: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (x.len() / d.max(1)).max(1) as f64;
    let mut mean = vec![0.0; d];
    for row in x.chunks(d) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v / n);
    }
    let mut var = vec![0.0; d];
    for row in x.chunks(d) {
        var.iter_mut().zip(row.iter().zip(&mean)).for_each(|(s, (v, m))| *s += (v - m) * (v - m) / n);
    }
    // Constant dimensions keep unit scale rather than dividing by ~0.
    (mean, var.into_iter().map(|v| if v > 1e-12 { v.sqrt() } else { 1.0 }).collect())
}

impl Normalization {
    /// The identity (the analytic tasks are already O(1)).
    pub fn identity(state_dim: usize, act_dim: usize) -> Self {
        Normalization {
            state_mean: vec![0.0; state_dim],
            state_std: vec![1.0; state_dim],
            action_mean: vec![0.0; act_dim],
            action_std: vec![1.0; act_dim],
        }
    }

    /// Mean and standard deviation of flat `states [n, sd]` and `actions [m, ad]`.
    pub fn fit(states: &[f64], state_dim: usize, actions: &[f64], act_dim: usize) -> Self {
        let (state_mean, state_std) = fit(states, state_dim);
        let (action_mean, action_std) = fit(actions, act_dim);
        Normalization { state_mean, state_std, action_mean, action_std }
    }

    /// State dimension.
    pub fn state_dim(&self) -> usize {
        self.state_mean.len()
    }

    /// Action dimension.
    pub fn act_dim(&self) -> usize {
        self.action_mean.len()
    }

    /// Checks lengths and positivity.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the inconsistency.
    pub fn validate(&self, state_dim: usize, act_dim: usize) -> Result<()> {
        let ok = self.state_mean.len() == state_dim
            && self.state_std.len() == state_dim
            && self.action_mean.len() == act_dim
            && self.action_std.len() == act_dim;
        if !ok {
            return Err(Error::invalid(
                "normalization",
                format!(
                    "statistics for {} state / {} action dims, model has {state_dim} / {act_dim}",
                    self.state_dim(),
                    self.act_dim()
                ),
            ));
        }
        let all = self.state_mean.iter().chain(&self.action_mean).chain(&self.state_std).chain(&self.action_std);
        if all.clone().any(|v| !v.is_finite()) || self.state_std.iter().chain(&self.action_std).any(|&s| s <= 0.0) {
            return Err(Error::invalid("normalization", "statistics must be finite with positive stds"));
        }
        Ok(())
    }

    /// Normalises flat states in place.
    pub fn states(&self, x: &mut [f64]) {
        let d = self.state_dim();
        for row in x.chunks_mut(d) {
            row.iter_mut().enumerate().for_each(|(i, v)| *v = (*v - self.state_mean[i]) / self.state_std[i]);
        }
    }

    /// Normalises flat actions in place.
    pub fn actions(&self, x: &mut [f64]) {
        let d = self.act_dim();
        for row in x.chunks_mut(d) {
            row.iter_mut().enumerate().for_each(|(i, v)| *v = (*v - self.action_mean[i]) / self.action_std[i]);
        }
    }

    /// Maps normalised actions back to raw units in place.
    pub fn unnormalize_actions(&self, x: &mut [f64]) {
        let d = self.act_dim();
        for row in x.chunks_mut(d) {
            row.iter_mut().enumerate().for_each(|(i, v)| *v = *v * self.action_std[i] + self.action_mean[i]);
        }
    }

    /// `Σ log std` of the actions: a density in raw units is the normalised one minus this.
    pub fn action_log_scale(&self) -> f64 {
        self.action_std.iter().map(|s| s.ln()).sum()
    }
}
