//! Evaluation of a policy against an analytic target: samples at test states, then the metrics
//! of [`crate::metrics`] per state, averaged over states.

use crate::cpu::rng::HostRng;
use crate::error::Result;
use crate::metrics;
use crate::tasks::AnalyticTask;
use serde::Serialize;

impl<P: Policy + ?Sized> Policy for &P {
    fn sample(&self, states: &[f64], n: usize, seed: u64) -> Result<Vec<f64>> {
        (**self).sample(states, n, seed)
    }
    fn log_prob(&self, states: &[f64], actions: &[f64]) -> Result<Option<Vec<f64>>> {
        (**self).log_prob(states, actions)
    }
}

/// Anything that draws actions for states and may know its own log-density.
pub trait Policy {
    /// `n` actions for each row of `states` (`[m, state_dim]` → `[m·n, act_dim]`, grouped by state).
    ///
    /// # Errors
    /// Model errors.
    fn sample(&self, states: &[f64], n: usize, seed: u64) -> Result<Vec<f64>>;

    /// `log q(a|s)` per row, when the model has a tractable likelihood.
    ///
    /// # Errors
    /// Model errors.
    fn log_prob(&self, _states: &[f64], _actions: &[f64]) -> Result<Option<Vec<f64>>> {
        Ok(None)
    }
}

/// Metrics of one evaluation, averaged over test states.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Task.
    pub task: String,
    /// Test states.
    pub states: usize,
    /// Samples per state.
    pub samples: usize,
    /// Mean covered modes per state.
    pub modes_covered: f64,
    /// Modes per state.
    pub modes_total: usize,
    /// States with every mode covered.
    pub states_all_covered: usize,
    /// Mean high-quality fraction.
    pub hq_fraction: f64,
    /// Mean normalised mode entropy.
    pub mode_entropy: f64,
    /// Mean KL of the mode histogram to the mode weights.
    pub mode_kl: f64,
    /// Mean unbiased MMD² (RBF, median bandwidth) against as many target samples.
    pub mmd2: f64,
    /// Mean W₂ against as many target samples.
    pub w2: f64,
    /// Test NLL (nats), when the model has a likelihood.
    pub nll: Option<f64>,
    /// The target's own entropy (the NLL floor), estimated on the same target samples.
    pub target_entropy: f64,
    /// Forward KL(p‖q), when the model has a likelihood.
    pub forward_kl: Option<f64>,
    /// Reverse KL(q‖p), when the model has a likelihood.
    pub reverse_kl: Option<f64>,
    /// Per-state histograms of high-quality samples per mode.
    pub counts: Vec<Vec<usize>>,
}

/// Evaluates `policy` on `task` with `n` samples at each of `states` test states.
///
/// # Errors
/// Model errors.
pub fn evaluate(policy: &dyn Policy, task: &AnalyticTask, states: usize, n: usize, seed: u64) -> Result<EvalReport> {
    let sd = task.state_dim();
    let ad = task.act_dim();
    let test = task.test_states(states);
    let samples = policy.sample(&test, n, seed)?;
    let mut rng = HostRng::new(seed, 7);
    let mut r = EvalReport {
        task: task.name().into(),
        states,
        samples: n,
        modes_covered: 0.0,
        modes_total: 0,
        states_all_covered: 0,
        hq_fraction: 0.0,
        mode_entropy: 0.0,
        mode_kl: 0.0,
        mmd2: 0.0,
        w2: 0.0,
        nll: None,
        target_entropy: 0.0,
        forward_kl: None,
        reverse_kl: None,
        counts: Vec::new(),
    };
    let (mut nll, mut fkl, mut rkl) = (0.0, 0.0, 0.0);
    let mut has_lp = true;
    for i in 0..states {
        let s = &test[i * sd..][..sd];
        let gmm = task.mixture(s);
        let x = &samples[i * n * ad..][..n * ad];
        let y = gmm.sample(n, &mut rng);
        let cov = metrics::mode_coverage(x, &gmm);
        r.modes_covered += cov.modes_covered as f64;
        r.modes_total = cov.modes_total;
        r.states_all_covered += usize::from(cov.modes_covered == cov.modes_total);
        r.hq_fraction += cov.hq_fraction;
        r.mode_entropy += cov.mode_entropy;
        r.mode_kl += cov.mode_kl;
        r.counts.push(cov.counts);
        let m = n.min(1000);
        r.mmd2 += metrics::mmd2(&x[..m * ad], &y[..m * ad], ad, None);
        r.w2 += metrics::w2(&x[..m * ad], &y[..m * ad], ad, &mut rng);
        let lp_y = gmm.log_prob(&y);
        r.target_entropy += metrics::nll(&lp_y);
        let srep: Vec<f64> = (0..n).flat_map(|_| s.iter().copied()).collect();
        match (policy.log_prob(&srep, &y)?, policy.log_prob(&srep, x)?) {
            (Some(lq_y), Some(lq_x)) => {
                nll += metrics::nll(&lq_y);
                fkl += metrics::forward_kl(&lp_y, &lq_y);
                rkl += metrics::reverse_kl(&lq_x, &gmm.log_prob(x));
            }
            _ => has_lp = false,
        }
    }
    let k = states as f64;
    for v in [
        &mut r.modes_covered,
        &mut r.hq_fraction,
        &mut r.mode_entropy,
        &mut r.mode_kl,
        &mut r.mmd2,
        &mut r.w2,
        &mut r.target_entropy,
    ] {
        *v /= k;
    }
    if has_lp {
        r.nll = Some(nll / k);
        r.forward_kl = Some(fkl / k);
        r.reverse_kl = Some(rkl / k);
    }
    Ok(r)
}

impl crate::diffusion::Teacher {
    /// The teacher as a [`Policy`] with a given sampler and step count.
    pub fn policy(&self, sampler: Option<crate::diffusion::Sampler>, steps: Option<usize>) -> TeacherPolicy<'_> {
        TeacherPolicy { teacher: self, sampler, steps }
    }
}

/// A teacher with fixed sampling settings.
pub struct TeacherPolicy<'a> {
    teacher: &'a crate::diffusion::Teacher,
    sampler: Option<crate::diffusion::Sampler>,
    steps: Option<usize>,
}

impl Policy for TeacherPolicy<'_> {
    fn sample(&self, states: &[f64], n: usize, seed: u64) -> Result<Vec<f64>> {
        self.teacher.sample(states, n, self.sampler, self.steps, seed)
    }
}

impl Policy for crate::moe::Student {
    fn sample(&self, states: &[f64], n: usize, seed: u64) -> Result<Vec<f64>> {
        let m = self.mixtures(states, 1)?;
        Ok(m.sample(n, &mut HostRng::new(seed, 0x5a)))
    }

    fn log_prob(&self, states: &[f64], actions: &[f64]) -> Result<Option<Vec<f64>>> {
        Ok(Some(self.mixtures(states, 1)?.log_prob(actions)))
    }
}

/// Relative L2 error of a teacher's score against the exact score at one noise level.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreError {
    /// The equivalent VE noise level σ (for DDPM: `√((1 − ᾱ_t)/ᾱ_t)` of the timestep used).
    pub sigma: f64,
    /// The DDPM timestep (None for BESO).
    pub timestep: Option<usize>,
    /// `√(Σ‖ŝ − s‖² / Σ‖s‖²)` over points drawn from the noisy marginal.
    pub rel_l2: f64,
}

/// The teacher's score error at VE levels `sigmas` (DDPM: the timestep whose equivalent σ is
/// closest), at `n` points drawn from the exact noisy marginal (states drawn from the task).
///
/// # Errors
/// Model errors.
pub fn teacher_score_error(
    teacher: &crate::diffusion::Teacher,
    task: &AnalyticTask,
    sigmas: &[f64],
    n: usize,
    seed: u64,
) -> Result<Vec<ScoreError>> {
    use crate::diffusion::TeacherKind;
    let mut rng = HostRng::new(seed, 11);
    let ad = task.act_dim();
    let mut out = Vec::new();
    for &sigma in sigmas {
        let states = task.sample_states(n, &mut rng);
        let (level, timestep, ab) = match teacher.cfg.kind {
            TeacherKind::Beso => (sigma, None, 1.0),
            TeacherKind::Ddpm => {
                let t = (0..teacher.alpha_bars().len())
                    .min_by(|&a, &b| {
                        let e = |t: usize| {
                            let ab = teacher.alpha_bars()[t];
                            (((1.0 - ab) / ab).sqrt() - sigma).abs()
                        };
                        e(a).total_cmp(&e(b))
                    })
                    .unwrap_or(0);
                (t as f64, Some(t), teacher.alpha_bars()[t])
            }
        };
        let mut x = Vec::with_capacity(n * ad);
        let mut exact = Vec::with_capacity(n * ad);
        for s in states.chunks(task.state_dim()) {
            let gmm = task.mixture(s);
            let a = gmm.sample(1, &mut rng);
            let xi: Vec<f64> = match timestep {
                None => a.iter().map(|v| v + sigma * rng.normal()).collect(),
                Some(_) => a.iter().map(|v| ab.sqrt() * v + (1.0 - ab).sqrt() * rng.normal()).collect(),
            };
            exact.extend(if timestep.is_none() { gmm.score_ve(&xi, sigma) } else { gmm.score_vp(&xi, ab) });
            x.extend(xi);
        }
        let got = teacher.score(&states, &x, &vec![level; n])?;
        let num: f64 = got.iter().zip(&exact).map(|(g, e)| (g - e) * (g - e)).sum();
        let den: f64 = exact.iter().map(|e| e * e).sum();
        let eq_sigma = if timestep.is_some() { ((1.0 - ab) / ab).sqrt() } else { sigma };
        out.push(ScoreError { sigma: eq_sigma, timestep, rel_l2: (num / den.max(1e-300)).sqrt() });
    }
    Ok(out)
}

/// Median wall-clock milliseconds of `f` over `reps` runs after `warmup` runs.
///
/// # Errors
/// The first error of `f`.
pub fn median_ms(warmup: usize, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..warmup {
        f()?;
    }
    let mut t = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let s = std::time::Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}
