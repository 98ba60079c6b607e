//! Shared pieces of the `vdd` subcommands.

pub mod avoiding;
pub mod bench;
pub mod demo;
pub mod demos;
pub mod distill;
pub mod eval;
pub mod inspect;
pub mod pipeline;
pub mod plot;
pub mod teacher;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use vdd::tasks::{self, AnalyticTask};
use vdd::Device;

/// Opens `cpu` or `gpu` with context on failure.
pub fn device(name: &str) -> Result<Device> {
    Device::from_name(name).with_context(|| format!("opening device {name:?}"))
}

/// Looks up a task by name.
pub fn task(name: &str) -> Result<AnalyticTask> {
    tasks::analytic(name).with_context(|| format!("task {name:?} (known: {})", tasks::TASK_NAMES.join(", ")))
}

/// A progress bar with ETA and a live message, hidden when `quiet` (e.g. `--json`).
pub fn progress(total: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta_precise}}] {{msg}}"
        ))
        .expect("valid template"),
    );
    pb
}

/// Parses a comma-separated list of numbers.
pub fn numbers(s: &str) -> Result<Vec<f64>> {
    s.split(',').map(|v| v.trim().parse::<f64>().with_context(|| format!("{v:?} is not a number"))).collect()
}

/// Reads a TOML override file, if given.
pub fn read_config(path: Option<&std::path::Path>) -> Result<Option<(String, String)>> {
    path.map(|p| {
        std::fs::read_to_string(p)
            .with_context(|| format!("reading config {}", p.display()))
            .map(|t| (t, p.display().to_string()))
    })
    .transpose()
}
