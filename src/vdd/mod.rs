//! Variational Diffusion Distillation (spec §2): fit a Gaussian-mixture student to a score
//! source by the EM-style upper bound on the reverse KL.
//!
//! Per expert update (one queue submission on the GPU): the student's means, Cholesky factors
//! and detached gating at a batch of states; `V` reparameterised samples per expert
//! (`expert_sample`); the score at every sample ([`ScoreSource`]); the closed-form gradient of
//! the per-expert bound with respect to means and factors (`expert_grad`: score term,
//! `−log q̃` responsibilities by log-sum-exp, entropy), carried through heads and backbone by
//! the tape; Adam. Per gating update: the cross-entropy of the gating to the responsibilities
//! of dataset actions (`mixture_log_prob`), back-propagated into the gating network only.

mod config;
mod kmeans;
mod score;
mod trainer;

pub use config::{MeanInitKind, VddConfig};
pub use kmeans::{kmeans, kmeans_best};
pub use score::{AnalyticData, DistillData, ScoreSource};
pub use trainer::{
    distill, expert_update, gating_update, init_student, warm_start_update, Evaluate, ExpertTerms, Progress,
    TrainReport, UpdateShape,
};

use crate::cpu::rng::HostRng;
use crate::device::Device;
use crate::error::Result;
use crate::moe::Student;
use crate::tasks::AnalyticTask;
use std::path::Path;

/// Distils `source` into a fresh student on an analytic task: the student is initialised
/// from target samples, trained with [`distill`], and selected by [`heldout_nll`] (16 test
/// states on conditional tasks, 1 otherwise). `progress` sees every iteration.
///
/// # Errors
/// As [`distill`].
pub fn distill_analytic(
    cfg: &VddConfig,
    task: &AnalyticTask,
    source: &ScoreSource,
    device: &Device,
    seed: u64,
    checkpoint: Option<&Path>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(Student, TrainReport)> {
    let norm = match source {
        ScoreSource::Exact { norm, .. } => norm.clone(),
        ScoreSource::Teacher { teacher, .. } => teacher.norm.clone(),
    };
    let mut data = AnalyticData { task, norm: norm.clone() };
    let mut student = init_student(cfg, &mut data, norm, task.name(), device, seed)?;
    let states = if task.conditional() { 16 } else { 1 };
    let mut evaluate = |s: &Student, _it: u64| heldout_nll(s, task, states, cfg.eval_samples, seed ^ 0xe1).map(Some);
    let report = distill(cfg, &mut student, &mut data, source, seed, checkpoint, progress, &mut evaluate)?;
    Ok((student, report))
}

/// Held-out NLL (nats per sample) of the student on `n` fresh target samples at each of
/// `states` test states — the default model-selection score on analytic tasks (it punishes
/// uncovered modes heavily).
///
/// # Errors
/// Model errors.
pub fn heldout_nll(student: &Student, task: &AnalyticTask, states: usize, n: usize, seed: u64) -> Result<f64> {
    let sd = task.state_dim();
    let test = task.test_states(states);
    let m = student.mixtures(&test, 1)?;
    let mut rng = HostRng::new(seed, 0x411);
    let mut total = 0.0;
    for i in 0..states {
        let y = task.mixture(&test[i * sd..][..sd]).sample(n, &mut rng);
        total -= m.log_prob_many(i, &y).iter().sum::<f64>() / n as f64;
    }
    Ok(total / states as f64)
}
