//! `vdd teacher`: train a diffusion teacher on an analytic task.

use anyhow::Result;
use std::path::PathBuf;
use std::time::Instant;
use vdd::diffusion::{Teacher, TeacherConfig, TeacherKind};
use vdd::eval;
use vdd::io::Normalization;
use vdd::tasks::AnalyticData;

/// Arguments of `vdd teacher`.
#[derive(clap::Args)]
pub struct Args {
    /// Task: ring, aniso, cond-ring or gmm:<file.toml>.
    #[arg(long)]
    pub task: String,
    /// Diffusion family.
    #[arg(long, value_enum, default_value = "beso")]
    pub kind: TeacherKind,
    /// Training steps (default per task: 10000, cond-ring 16000, avoiding 15000).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Seed of everything (initialisation, data, noise).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: cpu (fastest for these small denoisers) or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// TOML file overriding any field of the teacher configuration.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Demonstrations (avoiding; default: the scripted set, 4 per path, seeded by --seed).
    #[arg(long)]
    pub demos: Option<PathBuf>,
    /// Closed-loop rollouts to evaluate the trained teacher with (avoiding).
    #[arg(long, default_value_t = 96)]
    pub rollouts: usize,
    /// Output checkpoint.
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// Trains, evaluates (modes, score error) and saves the teacher.
pub fn run(a: &Args) -> Result<Teacher> {
    if a.task == "avoiding" {
        return avoiding(a);
    }
    let task = super::task(&a.task)?;
    let dev = super::device(&a.device)?;
    let mut cfg = TeacherConfig::for_task(task.name(), a.kind);
    if let Some((text, origin)) = super::read_config(a.config.as_deref())? {
        cfg = cfg.with_toml(&text, &origin)?;
    }
    if let Some(s) = a.steps {
        cfg.steps = s;
    }
    cfg.validate()?;
    let pb = super::progress(cfg.steps, &format!("teacher {:?} on {}", a.kind, task.name()), a.json);
    let start = Instant::now();
    let norm = Normalization::identity(task.state_dim(), task.act_dim());
    let mut data = AnalyticData { task: &task, norm: norm.clone() };
    let teacher = Teacher::train(cfg, task.name(), &mut data, norm, &dev, a.seed, |p| {
        if p.step % 25 == 0 || p.step == p.total {
            pb.set_position(p.step);
            pb.set_message(format!("loss {:.4}", p.loss));
        }
    })?;
    pb.finish_and_clear();
    let train_secs = start.elapsed().as_secs_f64();
    let states = if task.conditional() { 16 } else { 1 };
    let report = eval::evaluate(&teacher.policy(None, None), &task, states, 2000, a.seed ^ 0xe7a1)?;
    let scores = eval::teacher_score_error(&teacher, &task, &[0.2, 0.35, 0.5], 2000, a.seed ^ 0x5c0)?;
    let extra = serde_json::json!({ "train_seconds": train_secs, "eval": report, "score_error": scores });
    teacher.save(&a.out, extra.clone())?;
    println!(
        "trained {:?} teacher on {} in {train_secs:.1} s ({} steps, {}); saved {}",
        a.kind,
        task.name(),
        teacher.cfg.steps,
        dev.describe(),
        a.out.display()
    );
    super::eval::print_report(&report);
    for s in &scores {
        println!(
            "score rel. L2 error at σ = {:.3}{}: {:.4}",
            s.sigma,
            s.timestep.map(|t| format!(" (t = {t})")).unwrap_or_default(),
            s.rel_l2
        );
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "task": task.name(), "kind": a.kind, "seed": a.seed, "device": dev.kind(), "out": a.out, "train_seconds": train_secs, "eval": report, "score_error": scores })
        );
    }
    Ok(teacher)
}

/// `vdd teacher --task avoiding`: DiffusionGPT on the demonstrations, then rollouts.
fn avoiding(a: &Args) -> Result<Teacher> {
    use super::avoiding as av;
    let dev = super::device(&a.device)?;
    let demos = av::demos(a.demos.as_deref(), a.seed)?;
    let mut cfg = TeacherConfig::for_task("avoiding", a.kind);
    if let Some((text, origin)) = super::read_config(a.config.as_deref())? {
        cfg = cfg.with_toml(&text, &origin)?;
    }
    if let Some(s) = a.steps {
        cfg.steps = s;
    }
    cfg.validate()?;
    let (teacher, secs, loss) = av::train_teacher(cfg, &demos, &dev, a.seed, a.json)?;
    let (r, _) =
        av::teacher_rollouts(&teacher, a.rollouts, demos.alpha, &demos.path_distribution(), None, None, a.seed ^ 0x70)?;
    let extra = serde_json::json!({ "train_seconds": secs, "final_loss": loss, "rollouts": r, "demos": demos.episodes.len(), "alpha": demos.alpha });
    teacher.save(&a.out, extra)?;
    println!(
        "trained {:?} teacher on {} in {secs:.1} s ({} steps, {}); saved {}",
        a.kind,
        vdd::tasks::avoiding::NAME,
        teacher.cfg.steps,
        dev.describe(),
        a.out.display()
    );
    av::print_report(&r);
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "task": "avoiding", "kind": a.kind, "seed": a.seed, "device": dev.kind(), "out": a.out, "train_seconds": secs, "eval": r })
        );
    }
    Ok(teacher)
}
