//! `vdd plot`: a policy over its 2-D target density (students: experts as mean markers with
//! 1σ/2σ ellipses, line width by gating weight — the paper's Figure 2; teachers: samples).

use super::eval::Loaded;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use vdd::eval::Policy;
use vdd::plot;

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
pub fn draw(loaded: &Loaded, task: &vdd::tasks::AnalyticTask, state: &[f64], out: &Path) -> Result<()> {
    if task.act_dim() != 2 {
        bail!("plots need 2-D actions; {} has {}", task.name(), task.act_dim());
    }
    let g = task.mixture(state);
    let (x, y) = plot::frame(&g);
    let title = format!(
        "{} at state {:?}: target density, {}",
        task.name(),
        state,
        match loaded {
            Loaded::Student(s) => format!("{} experts (1σ, 2σ; width ∝ gating)", s.cfg().experts),
            Loaded::Teacher(_) => "teacher samples".into(),
        }
    );
    let mixtures = match loaded {
        Loaded::Student(s) => Some(s.mixtures(state, 1)?),
        Loaded::Teacher(_) => None,
    };
    let samples = match loaded {
        Loaded::Teacher(t) => Some(t.policy(None, None).sample(state, 1000, 1)?),
        Loaded::Student(_) => None,
    };
    plot::figure(out, &title, x, y, |c| {
        plot::density(c, &|p| g.log_prob(p), 180)?;
        if let Some(m) = &mixtures {
            plot::experts(c, m, 0)?;
        }
        if let Some(s) = &samples {
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
