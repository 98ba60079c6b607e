//! Tasks: analytic Gaussian-mixture targets with exact densities and scores
//! (spec tasks_and_metrics.md §3: T1 `ring`, T4 `aniso`, T7 `cond-ring`, and user mixtures
//! `gmm:<file.toml>`).

pub mod avoiding;
pub mod demos;
mod gmm;

pub use gmm::Gmm;

use crate::io::Normalization;

use crate::cpu::rng::HostRng;
use crate::error::{Error, Result};
use std::f64::consts::PI;

/// How an analytic task's target depends on the state.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// One mixture for every state (the state is fixed at all ones).
    Fixed(Gmm),
    /// T7: `s ~ U[−1, 1]`; the ring's means rotated by `πs/2`, weights `softmax(β cos(θ_k − πs))`.
    CondRing { radius: f64, std: f64, beta: f64, modes: usize },
}

/// A task whose target density is known exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyticTask {
    name: String,
    kind: Kind,
    state_dim: usize,
}

fn ring_means(modes: usize, radius: f64, rot: f64) -> Vec<Vec<f64>> {
    (0..modes)
        .map(|k| {
            let t = 2.0 * PI * k as f64 / modes as f64 + rot;
            vec![radius * t.cos(), radius * t.sin()]
        })
        .collect()
}

impl AnalyticTask {
    /// T1, the VDD paper's Figure-2 toy: 8 isotropic Gaussians (std 0.5) on a circle of radius 2,
    /// equal weights; the state is fixed (all ones, 2-D).
    pub fn ring() -> Self {
        let gmm = Gmm::isotropic(vec![0.125; 8], ring_means(8, 2.0, 0.0), &[0.5; 8]).expect("valid ring");
        AnalyticTask { name: "ring".into(), kind: Kind::Fixed(gmm), state_dim: 2 }
    }

    /// T4, the ML-Cur mixture: weights 0.2/0.4/0.4, anisotropic full covariances.
    pub fn aniso() -> Self {
        let gmm = Gmm::new(
            vec![0.2, 0.4, 0.4],
            vec![vec![0.0, 0.0], vec![-2.0, 2.0], vec![2.0, 2.0]],
            vec![vec![0.7, 0.05, 0.05, 0.1], vec![0.1, -0.02, -0.02, 0.7], vec![0.1, -0.09, -0.09, 0.7]],
        )
        .expect("valid aniso mixture");
        AnalyticTask { name: "aniso".into(), kind: Kind::Fixed(gmm), state_dim: 2 }
    }

    /// T7, this project's conditional ring: `s ~ U[−1, 1]`, 8 modes of std 0.5 on a radius-2 ring
    /// rotated by `πs/2`, weights `softmax(cos(θ_k − πs))` (β = 1, so every mode keeps ≥ 3.6 %).
    pub fn cond_ring() -> Self {
        AnalyticTask {
            name: "cond-ring".into(),
            kind: Kind::CondRing { radius: 2.0, std: 0.5, beta: 1.0, modes: 8 },
            state_dim: 1,
        }
    }

    /// A fixed mixture read from a `gmm:` TOML file.
    ///
    /// # Errors
    /// As [`Gmm::from_file`].
    pub fn from_file(path: &str) -> Result<Self> {
        Ok(AnalyticTask { name: format!("gmm:{path}"), kind: Kind::Fixed(Gmm::from_file(path)?), state_dim: 2 })
    }

    /// The task name (`ring`, `aniso`, `cond-ring`, `gmm:<path>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// State dimension.
    pub fn state_dim(&self) -> usize {
        self.state_dim
    }

    /// Action dimension.
    pub fn act_dim(&self) -> usize {
        match &self.kind {
            Kind::Fixed(g) => g.dim(),
            Kind::CondRing { .. } => 2,
        }
    }

    /// Whether the target depends on the state.
    pub fn conditional(&self) -> bool {
        matches!(self.kind, Kind::CondRing { .. })
    }

    /// The target mixture at `state`.
    pub fn mixture(&self, state: &[f64]) -> Gmm {
        match &self.kind {
            Kind::Fixed(g) => g.clone(),
            Kind::CondRing { radius, std, beta, modes } => {
                let s = state[0];
                let logits: Vec<f64> =
                    (0..*modes).map(|k| beta * (2.0 * PI * k as f64 / *modes as f64 - PI * s).cos()).collect();
                let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
                let z: f64 = e.iter().sum();
                let w = e.iter().map(|v| v / z).collect();
                Gmm::isotropic(w, ring_means(*modes, *radius, PI * s / 2.0), &vec![*std; *modes])
                    .expect("valid conditional ring")
            }
        }
    }

    /// `n` training states, flat `[n, state_dim]`.
    pub fn sample_states(&self, n: usize, rng: &mut HostRng) -> Vec<f64> {
        match self.kind {
            Kind::Fixed(_) => vec![1.0; n * self.state_dim],
            Kind::CondRing { .. } => (0..n).map(|_| rng.range(-1.0, 1.0)).collect(),
        }
    }

    /// `n` evaluation states spread deterministically over the state space (flat).
    pub fn test_states(&self, n: usize) -> Vec<f64> {
        match self.kind {
            Kind::Fixed(_) => vec![1.0; n * self.state_dim],
            Kind::CondRing { .. } => (0..n).map(|i| -1.0 + (2 * i + 1) as f64 / n as f64).collect(),
        }
    }

    /// One target action per state, flat `[n, act_dim]`.
    pub fn sample_actions(&self, states: &[f64], rng: &mut HostRng) -> Vec<f64> {
        match &self.kind {
            Kind::Fixed(g) => g.sample(states.len() / self.state_dim, rng),
            Kind::CondRing { .. } => {
                states.chunks(self.state_dim).flat_map(|s| self.mixture(s).sample(1, rng)).collect()
            }
        }
    }
}

/// Every task name the CLI accepts.
pub const TASK_NAMES: &[&str] = &["ring", "aniso", "cond-ring", "gmm:<file.toml>"];

/// Looks up an analytic task by name.
///
/// # Errors
/// [`Error::InvalidArgument`] for an unknown name; file errors for `gmm:` paths.
pub fn analytic(name: &str) -> Result<AnalyticTask> {
    match name {
        "ring" => Ok(AnalyticTask::ring()),
        "aniso" => Ok(AnalyticTask::aniso()),
        "cond-ring" => Ok(AnalyticTask::cond_ring()),
        n if n.starts_with("gmm:") => AnalyticTask::from_file(&n[4..]),
        other => Err(Error::invalid("task", format!("unknown task {other:?}; available: {}", TASK_NAMES.join(", ")))),
    }
}

/// Observation windows with the dataset's actions there, in normalised units: what teachers
/// train on and students are distilled at.
pub trait DistillData {
    /// Observation features per token.
    fn obs_dim(&self) -> usize;
    /// Action dimension.
    fn act_dim(&self) -> usize;
    /// Window length T.
    fn window(&self) -> usize;
    /// `b` observation windows `[b, T, obs_dim]` and the dataset's actions at them
    /// `[b, T, act_dim]` (normalised).
    fn batch(&mut self, b: usize, rng: &mut HostRng) -> (Vec<f64>, Vec<f64>);
}

/// An analytic task as data: fresh states and target actions every batch (window 1).
pub struct AnalyticData<'a> {
    /// The task.
    pub task: &'a AnalyticTask,
    /// Normalisation of the run (identity for the analytic tasks unless a teacher says
    /// otherwise).
    pub norm: Normalization,
}

impl DistillData for AnalyticData<'_> {
    fn obs_dim(&self) -> usize {
        self.task.state_dim()
    }
    fn act_dim(&self) -> usize {
        self.task.act_dim()
    }
    fn window(&self) -> usize {
        1
    }
    fn batch(&mut self, b: usize, rng: &mut HostRng) -> (Vec<f64>, Vec<f64>) {
        let mut s = self.task.sample_states(b, rng);
        let mut a = self.task.sample_actions(&s, rng);
        self.norm.states(&mut s);
        self.norm.actions(&mut a);
        (s, a)
    }
}
