//! `vdd bench`: time per action of a policy at a batch size on a device.

use super::eval::Loaded;
use anyhow::{bail, Result};
use std::path::PathBuf;
use vdd::cpu::rng::HostRng;
use vdd::eval::median_ms;
use vdd::Policy;

/// Arguments of `vdd bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint (student or teacher).
    #[arg(long)]
    pub policy: PathBuf,
    /// Task (default: the policy's).
    #[arg(long)]
    pub task: Option<String>,
    /// Observation windows per call.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Device: cpu (students use the embedded allocation-free forward) or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Timed calls (median reported).
    #[arg(long, default_value_t = 30)]
    pub reps: usize,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vdd bench`.
pub fn run(a: &Args) -> Result<()> {
    if a.batch == 0 {
        bail!("--batch must be positive");
    }
    let dev = super::device(&a.device)?;
    let loaded = Loaded::open(&a.policy, &dev)?;
    let task = a.task.clone().unwrap_or_else(|| loaded.task().to_string());
    let (obs_dim, window, act_dim) = match &loaded {
        Loaded::Student(s) => (s.cfg().obs_dim, s.cfg().window, s.cfg().act_dim),
        Loaded::Teacher(t) => (t.state_dim, t.window(), t.act_dim),
    };
    if task != loaded.task() {
        bail!("the policy was trained on {:?}, not {task:?}", loaded.task());
    }
    let mut rng = HostRng::new(0, 0xbe);
    let obs: Vec<f64> = (0..a.batch * window * obs_dim).map(|_| rng.range(-0.3, 0.3)).collect();
    let (what, ms) = match (&loaded, dev.as_gpu().is_none()) {
        (Loaded::Student(s), true) => {
            let mut p = Policy::from_student(s, 0)?;
            let mut out = vec![0.0; a.batch * act_dim];
            ("student (embedded CPU forward)", median_ms(10, a.reps, || p.act_batch(&obs, window, &mut out))?)
        }
        (Loaded::Student(s), false) => {
            let mut r = HostRng::new(0, 1);
            ("student (tensor engine)", median_ms(3, a.reps, || s.act(&obs, window, false, &mut r).map(drop))?)
        }
        (Loaded::Teacher(t), _) => {
            let label = if t.cfg.kind == vdd::diffusion::TeacherKind::Beso {
                "teacher (BESO, default sampler)"
            } else {
                "teacher (DDPM, default sampler)"
            };
            (label, median_ms(2, a.reps, || t.sample_windows(&obs, window, 1, None, None, 1).map(drop))?)
        }
    };
    let per_action = ms / a.batch as f64;
    println!(
        "{what} on {}: {ms:.4} ms per call at batch {} ({:.2} µs per action)",
        dev.describe(),
        a.batch,
        1e3 * per_action
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "policy": a.policy, "task": task, "device": dev.kind(), "batch": a.batch, "ms_per_call": ms, "ms_per_action": per_action, "reps": a.reps })
        );
    }
    Ok(())
}
