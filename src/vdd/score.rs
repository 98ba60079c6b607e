//! Where distillation gets its scores: [`ScoreSource`] gives the score `∇ₐ log π(a|s)` at the
//! experts' samples — exact for analytic targets, or a teacher's. (Its states come from a
//! [`DistillData`].)

use crate::cpu::rng::HostRng;
use crate::diffusion::{Teacher, TeacherKind};
use crate::error::{Error, Result};
use crate::io::Normalization;
use crate::tasks::AnalyticTask;
pub use crate::tasks::{AnalyticData, DistillData};
use crate::tensor::{ops, Tensor};

/// The score the experts are fitted to.
pub enum ScoreSource<'a> {
    /// The exact score of an analytic target (`noise`: of its σ-smoothed version with
    /// σ ~ U[lo, hi] per sample).
    Exact {
        /// The target.
        task: &'a AnalyticTask,
        /// Normalisation of the run.
        norm: Normalization,
        /// σ range, or None for the target itself.
        noise: Option<[f64; 2]>,
    },
    /// A diffusion teacher queried at the clean samples (spec §2.4 item 3).
    Teacher {
        /// The teacher (its normalisation is the run's).
        teacher: &'a Teacher,
        /// BESO: σ ~ U[lo, hi]; DDPM: a uniform timestep among those with equivalent σ in it.
        noise: [f64; 2],
        /// The DDPM timesteps (empty for BESO).
        timesteps: Vec<usize>,
    },
}

impl<'a> ScoreSource<'a> {
    /// A teacher source, checked against the dimensions of the task being distilled.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the teacher's state or action dimension differs.
    pub fn teacher(teacher: &'a Teacher, state_dim: usize, act_dim: usize, noise: [f64; 2]) -> Result<Self> {
        if teacher.state_dim != state_dim || teacher.act_dim != act_dim {
            return Err(Error::invalid(
                "teacher",
                format!(
                    "the teacher takes {}-d states and {}-d actions (trained on {:?}), the task has {state_dim}-d states and {act_dim}-d actions",
                    teacher.state_dim, teacher.act_dim, teacher.task
                ),
            ));
        }
        let timesteps = match teacher.cfg.kind {
            TeacherKind::Beso => Vec::new(),
            TeacherKind::Ddpm => teacher.timesteps_for(noise[0], noise[1]),
        };
        Ok(ScoreSource::Teacher { teacher, noise, timesteps })
    }

    /// Short description for logs and reports.
    pub fn describe(&self) -> String {
        match self {
            ScoreSource::Exact { noise: None, .. } => "exact score".into(),
            ScoreSource::Exact { noise: Some([a, b]), .. } => format!("exact σ-smoothed score, σ ~ U[{a}, {b}]"),
            ScoreSource::Teacher { teacher, noise, timesteps } => match teacher.cfg.kind {
                TeacherKind::Beso => format!("BESO teacher, σ ~ U[{}, {}]", noise[0], noise[1]),
                TeacherKind::Ddpm => format!("DDPM teacher, t ∈ {timesteps:?}"),
            },
        }
    }

    /// The score at samples `a: [B, T, Z, V, d]` (normalised units) drawn for the observation
    /// windows `obs: [B, T, obs_dim]`; the noise level is drawn per (state, expert, sample).
    ///
    /// # Errors
    /// [`Error::Shape`] for inconsistent sizes or a window the source cannot take; device errors.
    pub fn score(&self, obs: &[f64], a: &Tensor, rng: &mut HostRng) -> Result<Tensor> {
        let &[b, t, z, v, d] = a.shape() else {
            return Err(Error::shape("score", format!("samples {:?}, expected [B, T, Z, V, d]", a.shape())));
        };
        let q = z * v;
        let dev = a.device();
        match self {
            ScoreSource::Exact { task, norm, noise } => {
                if t != 1 {
                    return Err(Error::shape("score", format!("window {t}: analytic targets take single states")));
                }
                let sd = task.state_dim();
                if obs.len() != b * sd || d != task.act_dim() {
                    return Err(Error::shape("score", format!("{} state values for {b} states of {sd}", obs.len())));
                }
                let k = task.mixture(&obs[..sd]).components();
                let (mut means, mut covs, mut log_w) =
                    (Vec::with_capacity(b * k * d), Vec::with_capacity(b * k * d * d), Vec::with_capacity(b * k));
                let mut raw = obs.to_vec();
                for (row, m) in raw.chunks_mut(sd).zip(obs.chunks(sd)) {
                    row.iter_mut().enumerate().for_each(|(i, x)| *x = m[i] * norm.state_std[i] + norm.state_mean[i]);
                }
                let (mu, sig) = (&norm.action_mean, &norm.action_std);
                for s in raw.chunks(sd) {
                    let g = task.mixture(s);
                    if g.components() != k {
                        return Err(Error::invalid("score", "the target's component count varies with the state"));
                    }
                    for c in 0..k {
                        means.extend(g.mean(c).iter().enumerate().map(|(i, m)| (m - mu[i]) / sig[i]));
                        covs.extend(g.cov(c).iter().enumerate().map(|(e, v)| v / (sig[e / d] * sig[e % d])));
                    }
                    log_w.extend(g.weights().iter().map(|w| w.ln()));
                }
                let mut lv = Vec::with_capacity(b * q * 2);
                for _ in 0..b * q {
                    let s = noise.map_or(0.0, |[lo, hi]| rng.range(lo, hi));
                    lv.extend([1.0, s * s]);
                }
                let (score, _) = ops::mixture_score(
                    &Tensor::from_f64(&dev, &means, &[b, k, d])?,
                    &Tensor::from_f64(&dev, &covs, &[b, k, d, d])?,
                    &Tensor::from_f64(&dev, &log_w, &[b, k])?,
                    &a.reshape(&[b, q, d])?,
                    &Tensor::from_f64(&dev, &lv, &[b, q, 2])?,
                )?;
                score.reshape(a.shape())
            }
            ScoreSource::Teacher { teacher, noise, timesteps } => {
                let sd = teacher.state_dim;
                if obs.len() != b * t * sd || d != teacher.act_dim {
                    return Err(Error::shape(
                        "score",
                        format!("{} observation values for {b} windows of {t} × {sd}", obs.len()),
                    ));
                }
                // Each (state, expert, sample) is one action window for the teacher.
                let n = b * q;
                let mut states = Vec::with_capacity(n * t * sd);
                for w in obs.chunks(t * sd) {
                    (0..q).for_each(|_| states.extend_from_slice(w));
                }
                let levels: Vec<f64> = (0..n)
                    .map(|_| match teacher.cfg.kind {
                        TeacherKind::Beso => rng.range(noise[0], noise[1]),
                        TeacherKind::Ddpm => timesteps[rng.below(timesteps.len())] as f64,
                    })
                    .collect();
                let st = Tensor::from_f64(&dev, &states, &[n, t, sd])?;
                if t == 1 {
                    return teacher.score_tensor(&st, &a.reshape(&[n, 1, d])?, &levels)?.reshape(a.shape());
                }
                // [B, T, Z·V, d] ↔ [B, Z·V, T, d].
                let windows = ops::permute(&a.reshape(&[b, t, q, d])?, &[0, 2, 1, 3])?.reshape(&[n, t, d])?;
                let s = teacher.score_tensor(&st, &windows, &levels)?.reshape(&[b, q, t, d])?;
                ops::permute(&s, &[0, 2, 1, 3])?.reshape(a.shape())
            }
        }
    }
}
