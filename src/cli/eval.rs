//! `vdd eval` and `vdd sample`: metrics and samples of a saved policy.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use vdd::diffusion::{Sampler, Teacher};
use vdd::eval::{self, EvalReport, Policy};
use vdd::io;
use vdd::moe::{Student, STUDENT_KIND};
use vdd::Device;

/// A loaded policy of any kind.
pub enum Loaded {
    /// A diffusion teacher.
    Teacher(Teacher),
    /// A Gaussian-mixture student.
    Student(Student),
}

impl Loaded {
    /// Loads a checkpoint of any kind.
    pub fn open(path: &Path, dev: &Device) -> Result<Loaded> {
        let ck = io::load(path, &[])?;
        match ck.meta.kind.as_str() {
            "teacher-beso" | "teacher-ddpm" => Ok(Loaded::Teacher(Teacher::from_checkpoint(&ck, path, dev)?)),
            STUDENT_KIND => Ok(Loaded::Student(Student::from_checkpoint(&ck, path, dev)?)),
            k => bail!("{}: unknown checkpoint kind {k:?}", path.display()),
        }
    }

    /// The task the policy was trained on.
    pub fn task(&self) -> &str {
        match self {
            Loaded::Teacher(t) => &t.task,
            Loaded::Student(s) => &s.task,
        }
    }

    /// As a [`Policy`] (teachers with the given sampler settings).
    pub fn policy(&self, sampler: Option<Sampler>, steps: Option<usize>) -> Box<dyn Policy + '_> {
        match self {
            Loaded::Teacher(t) => Box::new(t.policy(sampler, steps)),
            Loaded::Student(s) => Box::new(s),
        }
    }
}

/// Arguments of `vdd eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint (teacher or student).
    #[arg(long)]
    pub policy: PathBuf,
    /// Task (default: the one the policy was trained on).
    #[arg(long)]
    pub task: Option<String>,
    /// Samples per test state.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// Test states (conditional tasks; default 16).
    #[arg(long, default_value_t = 16)]
    pub states: usize,
    /// Closed-loop rollouts (avoiding).
    #[arg(long, default_value_t = 480)]
    pub rollouts: usize,
    /// Demonstrations whose path distribution the path KL is measured against, and whose
    /// tracking lag the re-simulation uses (avoiding; default: uniform over 24 paths, α 0.5).
    #[arg(long)]
    pub demos: Option<PathBuf>,
    /// Draw the rollouts' trajectories into this PNG (avoiding).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Teacher sampler (default: the teacher's configured one).
    #[arg(long, value_enum)]
    pub sampler: Option<Sampler>,
    /// Teacher sampling steps.
    #[arg(long)]
    pub sample_steps: Option<usize>,
    /// Seed of the evaluation samples.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Device: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// Prints the human-readable summary of a report.
pub fn print_report(r: &EvalReport) {
    println!(
        "modes covered {:.2}/{} (all covered at {}/{} states), normalised mode entropy {:.3}, KL to mode weights {:.4}, high-quality {:.1} %",
        r.modes_covered,
        r.modes_total,
        r.states_all_covered,
        r.states,
        r.mode_entropy,
        r.mode_kl,
        100.0 * r.hq_fraction
    );
    println!("MMD² {:.5}, W₂ {:.4}, target entropy {:.4} nats", r.mmd2, r.w2, r.target_entropy);
    if let (Some(nll), Some(f), Some(rk)) = (r.nll, r.forward_kl, r.reverse_kl) {
        println!("test NLL {nll:.4} nats, forward KL {f:.4}, reverse KL {rk:.4}");
    }
}

/// Runs `vdd eval`.
pub fn run(a: &Args) -> Result<()> {
    let dev = super::device(&a.device)?;
    let loaded = Loaded::open(&a.policy, &dev)?;
    let name = a.task.as_deref().unwrap_or(loaded.task());
    if name == "avoiding" {
        return rollouts(a, &loaded);
    }
    let task = super::task(name)?;
    let states = if task.conditional() { a.states } else { 1 };
    let report = eval::evaluate(loaded.policy(a.sampler, a.sample_steps).as_ref(), &task, states, a.n, a.seed)?;
    let mut json = serde_json::json!({ "policy": a.policy, "eval": report });
    print_report(&report);
    if let Loaded::Teacher(t) = &loaded {
        let scores = eval::teacher_score_error(t, &task, &[0.2, 0.35, 0.5], 2000, a.seed)?;
        for s in &scores {
            println!("score rel. L2 error at σ = {:.3}: {:.4}", s.sigma, s.rel_l2);
        }
        json["score_error"] = serde_json::to_value(&scores)?;
    }
    if a.json {
        println!("{json}");
    }
    Ok(())
}

/// Arguments of `vdd sample`.
#[derive(clap::Args)]
pub struct SampleArgs {
    /// Checkpoint (teacher or student).
    #[arg(long)]
    pub policy: PathBuf,
    /// State, comma-separated (default: the task's first test state; avoiding: an observation
    /// window of 1..=5 observations, default the start).
    #[arg(long, allow_hyphen_values = true)]
    pub state: Option<String>,
    /// Number of actions.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Output CSV.
    #[arg(long)]
    pub out: PathBuf,
    /// Teacher sampler.
    #[arg(long, value_enum)]
    pub sampler: Option<Sampler>,
    /// Teacher sampling steps.
    #[arg(long)]
    pub sample_steps: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Device: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vdd sample`.
pub fn sample(a: &SampleArgs) -> Result<()> {
    let dev = super::device(&a.device)?;
    let loaded = Loaded::open(&a.policy, &dev)?;
    if loaded.task() == "avoiding" {
        return sample_window(a, &loaded);
    }
    let task = super::task(loaded.task())?;
    let state = match &a.state {
        Some(s) => super::numbers(s)?,
        None => task.test_states(1),
    };
    if state.len() != task.state_dim() {
        bail!("--state has {} values but the policy takes {}-dimensional states", state.len(), task.state_dim());
    }
    let x = loaded.policy(a.sampler, a.sample_steps).sample(&state, a.n, a.seed)?;
    let reps: Vec<f64> = (0..a.n).flat_map(|_| state.iter().copied()).collect();
    io::write_csv(&a.out, &x, task.act_dim(), Some((&reps, task.state_dim())))?;
    println!("wrote {} actions to {}", a.n, a.out.display());
    if a.json {
        println!("{}", serde_json::json!({ "out": a.out, "n": a.n, "state": state }));
    }
    Ok(())
}

/// `vdd sample` for windowed policies: `n` actions at one observation window (`--state`: t·4
/// values, oldest first; default the start observation).
fn sample_window(a: &SampleArgs, loaded: &Loaded) -> Result<()> {
    use vdd::tasks::avoiding::{ACT_DIM, OBS_DIM, START};
    let obs = match &a.state {
        Some(s) => super::numbers(s)?,
        None => vec![START[0], START[1], START[0], START[1]],
    };
    if obs.is_empty() || obs.len() % OBS_DIM != 0 || obs.len() / OBS_DIM > 5 {
        bail!("--state has {} values; give 1..=5 observations of {OBS_DIM} values", obs.len());
    }
    let t = obs.len() / OBS_DIM;
    let x = match loaded {
        Loaded::Teacher(tch) => {
            let w = tch.sample_windows(&obs, t, a.n, a.sampler, a.sample_steps, a.seed)?;
            w.chunks(t * ACT_DIM).flat_map(|c| c[(t - 1) * ACT_DIM..].to_vec()).collect()
        }
        Loaded::Student(s) => s.mixtures(&obs, t)?.sample(a.n, &mut vdd::cpu::rng::HostRng::new(a.seed, 0x5a)),
    };
    let last = &obs[(t - 1) * OBS_DIM..];
    let reps: Vec<f64> = (0..a.n).flat_map(|_| last.iter().copied()).collect();
    io::write_csv(&a.out, &x, ACT_DIM, Some((&reps, OBS_DIM)))?;
    println!("wrote {} actions at the window's last observation {last:?} to {}", a.n, a.out.display());
    if a.json {
        println!("{}", serde_json::json!({ "out": a.out, "n": a.n, "state": obs }));
    }
    Ok(())
}

/// `vdd eval --task avoiding`: closed-loop rollouts.
fn rollouts(a: &Args, loaded: &Loaded) -> Result<()> {
    use super::avoiding as av;
    use vdd::tasks::avoiding::{DEFAULT_ALPHA, NAME, PATHS};
    let (alpha, prior) = match &a.demos {
        Some(p) => {
            let d = av::demos(Some(p), 0)?;
            (d.alpha, d.path_distribution())
        }
        None => (DEFAULT_ALPHA, [1.0 / PATHS as f64; PATHS]),
    };
    let (r, envs) = av::evaluate(loaded, a.rollouts, alpha, &prior, a.sampler, a.sample_steps, a.seed)?;
    av::print_report(&r);
    if let Some(png) = &a.plot {
        av::plot(&envs, &format!("{NAME}: {} rollouts of {}", r.rollouts, a.policy.display()), png)?;
        println!("wrote {}", png.display());
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "policy": a.policy, "eval": r, "success_rate": r.success_rate, "path_entropy": r.path_entropy,
            "path_kl": r.path_kl, "mean_episode_len": r.mean_episode_len, "ms_per_action": r.ms_per_action, "device": a.device, "seed": a.seed })
        );
    }
    Ok(())
}
