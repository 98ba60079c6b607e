//! Batched closed-loop rollouts of Avoiding-2D: every environment steps in lock-step, with one
//! batched policy call per step over the environments still running.

use crate::cpu::rng::HostRng;
use crate::diffusion::{Sampler, Teacher};
use crate::error::{Error, Result};
use crate::moe::Student;
use crate::tasks::avoiding::{self as av, Env};
use serde::Serialize;
use std::time::Instant;

/// A policy over observation windows: actions `[B, 2]` (raw units) for windows
/// `[B, t, 4]` (oldest first; t grows to the policy's window at the start of an episode).
pub trait WindowPolicy {
    /// The observation window T.
    fn window(&self) -> usize;
    /// Actions for a batch of windows.
    ///
    /// # Errors
    /// Model errors.
    fn act(&mut self, obs: &[f64], t: usize) -> Result<Vec<f64>>;
}

/// A student acting as the reference does: sample an expert from the gating, take its mean.
pub struct StudentActor<'a> {
    /// The student.
    pub student: &'a Student,
    /// Take the most probable expert instead of sampling one.
    pub greedy: bool,
    /// Expert choices.
    pub rng: HostRng,
}

impl WindowPolicy for StudentActor<'_> {
    fn window(&self) -> usize {
        self.student.cfg().window
    }
    fn act(&mut self, obs: &[f64], t: usize) -> Result<Vec<f64>> {
        self.student.act(obs, t, self.greedy, &mut self.rng)
    }
}

/// A teacher sampling one action window per observation window; the last action is executed.
pub struct TeacherActor<'a> {
    /// The teacher.
    pub teacher: &'a Teacher,
    /// Sampler (None: the teacher's default).
    pub sampler: Option<Sampler>,
    /// Sampling steps (None: the teacher's default).
    pub steps: Option<usize>,
    /// Seed; each call uses the next stream.
    pub seed: u64,
}

impl WindowPolicy for TeacherActor<'_> {
    fn window(&self) -> usize {
        self.teacher.window()
    }
    fn act(&mut self, obs: &[f64], t: usize) -> Result<Vec<f64>> {
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let w = self.teacher.sample_windows(obs, t, 1, self.sampler, self.steps, self.seed)?;
        Ok(w.chunks(t * av::ACT_DIM).flat_map(|c| c[(t - 1) * av::ACT_DIM..].to_vec()).collect())
    }
}

/// What a batch of rollouts measured.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutReport {
    /// Task name (the honest one).
    pub task: String,
    /// Rollouts.
    pub rollouts: usize,
    /// Fraction that crossed the success line without a collision.
    pub success_rate: f64,
    /// D3IL path entropy of the successful rollouts, normalised by ln 24.
    pub path_entropy: f64,
    /// KL (nats) of their path distribution to the prior (the demonstrations').
    pub path_kl: f64,
    /// Distinct paths among the successful rollouts.
    pub distinct_paths: usize,
    /// Successful rollouts per path index 0..24 (L1 × 12 + L2 × 4 + L3, see
    /// [`av::path_index`]); successes whose code is not one of the 24 paths are not counted.
    pub path_counts: Vec<usize>,
    /// Mean episode length (steps) over all rollouts.
    pub mean_episode_len: f64,
    /// Fraction that collided.
    pub collision_rate: f64,
    /// Median wall-clock of one batched policy call (ms).
    pub ms_per_call: f64,
    /// That divided by the batch it served (ms per action).
    pub ms_per_action: f64,
    /// Tracking lag α of the re-simulation.
    pub alpha: f64,
}

/// Runs `n` rollouts of `policy` in lock-step and returns the report and the finished
/// environments (with their trajectories).
///
/// # Errors
/// Policy errors; [`Error::Shape`] if the policy returns the wrong number of actions.
pub fn rollouts(
    policy: &mut dyn WindowPolicy,
    n: usize,
    alpha: f64,
    prior: &[f64; av::PATHS],
) -> Result<(RolloutReport, Vec<Env>)> {
    let big_t = policy.window();
    let mut envs: Vec<Env> = (0..n).map(|_| Env::new(alpha)).collect();
    let mut hist: Vec<Vec<[f64; 4]>> = envs.iter().map(|e| vec![e.obs()]).collect();
    let mut times = Vec::new();
    for step in 0..av::MAX_STEPS {
        let active: Vec<usize> = (0..n).filter(|&i| !envs[i].done()).collect();
        if active.is_empty() {
            break;
        }
        let t = (step + 1).min(big_t);
        let mut obs = Vec::with_capacity(active.len() * t * 4);
        for &i in &active {
            hist[i][hist[i].len() - t..].iter().for_each(|o| obs.extend_from_slice(o));
        }
        let start = Instant::now();
        let acts = policy.act(&obs, t)?;
        times.push((start.elapsed().as_secs_f64() * 1e3, active.len()));
        if acts.len() != active.len() * av::ACT_DIM {
            return Err(Error::shape(
                "rollout",
                format!("{} action values for {} environments", acts.len(), active.len()),
            ));
        }
        for (k, &i) in active.iter().enumerate() {
            envs[i].step([acts[2 * k], acts[2 * k + 1]]);
            let o = envs[i].obs();
            hist[i].push(o);
            if hist[i].len() > big_t {
                hist[i].remove(0);
            }
        }
    }
    let codes: Vec<u32> = envs.iter().filter(|e| e.success).map(|e| e.code).collect();
    let (path_entropy, path_kl) = av::path_entropy_kl(&codes, prior);
    let mut per_call: Vec<f64> = times.iter().map(|t| t.0).collect();
    per_call.sort_by(f64::total_cmp);
    let mut per_action: Vec<f64> = times.iter().map(|t| t.0 / t.1 as f64).collect();
    per_action.sort_by(f64::total_cmp);
    let med = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(0.0);
    let nf = n.max(1) as f64;
    let report = RolloutReport {
        task: av::NAME.into(),
        rollouts: n,
        success_rate: codes.len() as f64 / nf,
        path_entropy,
        path_kl,
        distinct_paths: codes.iter().collect::<std::collections::BTreeSet<_>>().len(),
        path_counts: (0..av::PATHS).map(|p| codes.iter().filter(|&&c| av::path_index(c) == Some(p)).count()).collect(),
        mean_episode_len: envs.iter().map(|e| e.steps as f64).sum::<f64>() / nf,
        collision_rate: envs.iter().filter(|e| e.collided).count() as f64 / nf,
        ms_per_call: med(&per_call),
        ms_per_action: med(&per_action),
        alpha,
    };
    Ok((report, envs))
}
