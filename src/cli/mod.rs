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

/// Progress of a long run: a bar with ETA and a live message on a terminal; on any other
/// stderr (a log file, CI) a line every 10 % with the elapsed time and the message; nothing
/// when `quiet` (e.g. `--json`).
pub struct Progress {
    bar: ProgressBar,
    lines: bool,
    quiet: bool,
    total: u64,
    what: String,
    start: std::time::Instant,
    next: std::cell::Cell<u64>,
    msg: std::cell::RefCell<String>,
}

impl Progress {
    /// Sets the position (steps done).
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        if self.lines && pos >= self.next.get() {
            let secs = self.start.elapsed().as_secs_f64();
            eprintln!("{}: {pos}/{} after {secs:.0} s {}", self.what, self.total, self.msg.borrow());
            self.next.set(pos + (self.total / 10).max(1));
        }
    }

    /// Sets the live message.
    pub fn set_message(&self, msg: String) {
        self.bar.set_message(msg.clone());
        *self.msg.borrow_mut() = msg;
    }

    /// Prints a line above the bar (or alone, without a terminal; nothing when quiet).
    pub fn println(&self, line: String) {
        if !self.bar.is_hidden() {
            self.bar.println(line);
        } else if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// Removes the bar.
    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// A [`Progress`] over `total` steps of `what`.
pub fn progress(total: u64, what: &str, quiet: bool) -> Progress {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let bar = if quiet || !terminal {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(&format!(
                "{what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta_precise}}] {{msg}}"
            ))
            .expect("valid template"),
        );
        pb
    };
    Progress {
        bar,
        lines: !quiet && !terminal,
        quiet,
        total,
        what: what.to_string(),
        start: std::time::Instant::now(),
        next: std::cell::Cell::new((total / 10).max(1)),
        msg: Default::default(),
    }
}

/// A VDD run's bar over `warm_start + iters` steps of `what`.
pub fn vdd_bar(cfg: &vdd::vdd::VddConfig, what: &str, quiet: bool) -> Progress {
    progress(cfg.warm_start + cfg.iters, what, quiet)
}

/// Shows a VDD iteration on a [`vdd_bar`]: the warm start's data NLL, then `log q̃` and the
/// gating's data NLL.
pub fn vdd_progress(pb: &Progress, warm_start: u64, p: &vdd::vdd::Progress) {
    if p.warm {
        pb.set_message(format!("warm start, data NLL {:.3}", p.data_nll.unwrap_or(f64::NAN)));
        pb.set_position(p.iter);
    } else {
        let nll = p.data_nll.map(|n| format!(", data NLL {n:.3}")).unwrap_or_default();
        pb.set_message(format!("log q̃ {:.3}{nll}", p.log_resp));
        pb.set_position(warm_start + p.iter);
    }
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
