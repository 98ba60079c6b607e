//! `vdd inspect`: the mixture a student predicts at a state (weights, means, full covariance
//! matrices), so its likelihood can be checked independently.

use anyhow::{bail, Result};
use std::path::PathBuf;
use vdd::moe::Student;

/// Arguments of `vdd inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// Student checkpoint.
    #[arg(long)]
    pub policy: PathBuf,
    /// State (an observation window for windowed policies: T·obs_dim values, oldest first),
    /// comma-separated (default: the task's first test state, or zeros).
    #[arg(long, allow_hyphen_values = true)]
    pub state: Option<String>,
    /// Device: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vdd inspect`.
pub fn run(a: &Args) -> Result<()> {
    let dev = super::device(&a.device)?;
    let s = Student::load(&a.policy, &dev)?;
    let sd = s.cfg().obs_dim;
    let state = match &a.state {
        Some(v) => super::numbers(v)?,
        None => match vdd::tasks::analytic(&s.task) {
            Ok(t) => t.test_states(1),
            Err(_) => vec![0.0; sd],
        },
    };
    if state.is_empty() || state.len() % sd != 0 || state.len() / sd > s.cfg().window {
        bail!(
            "--state has {} values; the policy takes windows of 1..={} observations of {sd} values",
            state.len(),
            s.cfg().window
        );
    }
    let m = s.mixtures(&state, state.len() / sd)?;
    let (z, d) = (m.experts, m.dim);
    let means: Vec<&[f64]> = m.means.chunks(d).collect();
    let covs: Vec<Vec<Vec<f64>>> = (0..z).map(|k| m.cov(0, k).chunks(d).map(<[f64]>::to_vec).collect()).collect();
    println!("mixture of {z} experts at state {state:?} (task {}):", s.task);
    for k in 0..z {
        println!(
            "  expert {k}: weight {:.4}, mean {:?}, cov {:?}",
            m.weights[k],
            round(means[k]),
            covs[k].iter().map(|r| round(r)).collect::<Vec<_>>()
        );
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "state": state, "weights": m.weights, "means": means, "covs": covs, "task": s.task })
        );
    }
    Ok(())
}

fn round(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x * 1e4).round() / 1e4).collect()
}
