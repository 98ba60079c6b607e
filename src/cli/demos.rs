//! `vdd demos`: write the scripted Avoiding-2D demonstrations to a dataset file.

use anyhow::{bail, Result};
use std::path::PathBuf;
use vdd::tasks::avoiding::{
    DemoStyle, DEFAULT_ALPHA, DEFAULT_DEMOS_PER_PATH, DEFAULT_DEMO_NOISE, DEFAULT_DEMO_STYLE, NAME,
};
use vdd::tasks::demos::Demos;

/// Arguments of `vdd demos`.
#[derive(clap::Args)]
pub struct Args {
    /// Task (only `avoiding` has demonstrations).
    #[arg(long, default_value = "avoiding")]
    pub task: String,
    /// Demonstrations per path (24 paths).
    #[arg(long, default_value_t = DEFAULT_DEMOS_PER_PATH)]
    pub per_path: usize,
    /// Tracking lag α of the kinematic re-simulation.
    #[arg(long, default_value_t = DEFAULT_ALPHA)]
    pub alpha: f64,
    /// Std (metres) of the noise on the demonstrator's executed actions; the recorded actions are
    /// its corrections (DART-style, so the data shows how to return to the path).
    #[arg(long, default_value_t = DEFAULT_DEMO_NOISE)]
    pub noise: f64,
    /// Path geometry of the demonstrator.
    #[arg(long, value_enum, default_value_t = DEFAULT_DEMO_STYLE)]
    pub style: DemoStyle,
    /// Generator seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output dataset (safetensors; format in the README).
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vdd demos`.
pub fn run(a: &Args) -> Result<()> {
    if a.task != "avoiding" {
        bail!("only the avoiding task has scripted demonstrations (got {:?})", a.task);
    }
    if a.per_path == 0 || !(a.alpha > 0.0 && a.alpha <= 1.0) || !(0.0..0.01).contains(&a.noise) {
        bail!("need --per-path ≥ 1, 0 < --alpha ≤ 1 and 0 ≤ --noise < 0.01 m");
    }
    let d = Demos::scripted(a.per_path, a.alpha, a.noise, a.style, a.seed);
    d.save(&a.out)?;
    let lens: Vec<usize> = d.episodes.iter().map(|e| e.obs.len()).collect();
    let mean = d.steps() as f64 / lens.len() as f64;
    println!(
        "{NAME}: {} demonstrations ({} per path, {:?} paths, α = {}, noise {} m, seed {}), {} steps, lengths {}..{} (mean {mean:.1}), {} rejected while generating; wrote {}",
        d.episodes.len(),
        a.per_path,
        a.style,
        a.alpha,
        a.noise,
        a.seed,
        d.steps(),
        lens.iter().min().unwrap_or(&0),
        lens.iter().max().unwrap_or(&0),
        d.rejected,
        a.out.display()
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "out": a.out, "episodes": d.episodes.len(), "steps": d.steps(), "rejected": d.rejected, "mean_len": mean })
        );
    }
    Ok(())
}
