//! `vdd plot`: a policy over its 2-D target density (students: experts as mean markers with
//! 1σ/2σ ellipses, line width by gating weight — the paper's Figure 2; teachers: samples).

use super::eval::Loaded;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use vdd::diffusion::Teacher;
use vdd::eval::Policy;
use vdd::moe::{Mixtures, Student};
use vdd::plot;
use vdd::tasks::AnalyticTask;

/// Arguments of `vdd plot`.
#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint (teacher or student).
    #[arg(long)]
    pub policy: PathBuf,
    /// Task (default: the one the policy was trained on).
    #[arg(long)]
    pub task: Option<String>,
    /// State, comma-separated (default: the task's first test state).
    #[arg(long, allow_hyphen_values = true)]
    pub state: Option<String>,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Device: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Draws `loaded` on `task` at `state` into `out`.
pub fn draw(loaded: &Loaded, task: &AnalyticTask, state: &[f64], out: &Path) -> Result<()> {
    match loaded {
        Loaded::Student(s) => draw_student(s, task, state, out),
        Loaded::Teacher(t) => draw_teacher(t, task, state, out),
    }
}

/// A student's experts over the target density.
pub fn draw_student(s: &Student, task: &AnalyticTask, state: &[f64], out: &Path) -> Result<()> {
    let what = format!("{} experts (1σ, 2σ; width ∝ gating)", s.cfg().experts);
    draw_parts(task, state, &what, Some(&s.mixtures(state, 1)?), None, out)
}

/// 1000 teacher samples over the target density.
pub fn draw_teacher(t: &Teacher, task: &AnalyticTask, state: &[f64], out: &Path) -> Result<()> {
    draw_parts(task, state, "teacher samples", None, Some(&t.policy(None, None).sample(state, 1000, 1)?), out)
}

fn draw_parts(
    task: &AnalyticTask,
    state: &[f64],
    what: &str,
    m: Option<&Mixtures>,
    samples: Option<&[f64]>,
    out: &Path,
) -> Result<()> {
    if task.act_dim() != 2 {
        bail!("plots need 2-D actions; {} has {}", task.name(), task.act_dim());
    }
    let g = task.mixture(state);
    let (x, y) = plot::frame(&g);
    let title = format!("{} at state {state:?}: target density, {what}", task.name());
    plot::figure(out, &title, x, y, |c| {
        plot::density(c, &|p| g.log_prob(p), 180)?;
        if let Some(m) = m {
            plot::experts(c, m, 0)?;
        }
        if let Some(s) = samples {
            plot::scatter(c, s, 2, plot::palette(3))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Runs `vdd plot`.
pub fn run(a: &Args) -> Result<()> {
    let dev = super::device(&a.device)?;
    let loaded = Loaded::open(&a.policy, &dev)?;
    let task = super::task(a.task.as_deref().unwrap_or(loaded.task()))?;
    let state = match &a.state {
        Some(s) => super::numbers(s)?,
        None => task.test_states(1),
    };
    if state.len() != task.state_dim() {
        bail!("--state has {} values; {} takes {}", state.len(), task.name(), task.state_dim());
    }
    draw(&loaded, &task, &state, &a.out)?;
    println!("wrote {}", a.out.display());
    Ok(())
}
