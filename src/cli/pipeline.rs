//! `vdd pipeline` (demonstrations → teacher → student → closed-loop evaluation, with a report
//! and figures) and `vdd ablate` (one student per number of experts) on Avoiding-2D.

use super::avoiding as av;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use vdd::cpu::rng::HostRng;
use vdd::diffusion::{Teacher, TeacherConfig, TeacherKind};
use vdd::rollout::RolloutReport;
use vdd::tasks::avoiding::NAME;
use vdd::vdd::VddConfig;
use vdd::Policy;

/// Run sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// ≤ 20 minutes on 2 CPU cores: 3000 teacher steps; 400 distillation iterations of 128
    /// states at lr 1e-3, σ ~ U[0.2, 0.5], no warm start (the measured quick run: a warm start
    /// of 1000 iterations of 128 states with 250 VDD iterations at the full preset's settings
    /// gave a student of success 0.108).
    Quick,
    /// The measured defaults (README): 15 000 teacher steps; a warm start of 3000 and 500
    /// distillation iterations of 256 states.
    Full,
}

/// The teacher and VDD configurations of a preset.
pub fn configs(preset: Preset) -> (TeacherConfig, VddConfig) {
    let mut t = TeacherConfig::for_task("avoiding", TeacherKind::Beso);
    let mut v = VddConfig::for_task("avoiding", 0, true);
    match preset {
        Preset::Quick => {
            t.steps = 3000;
            v.warm_start = 0;
            v.iters = 400;
            v.batch = 128;
            v.lr = 1e-3;
            v.noise = Some([0.2, 0.5]);
            v.eval_every = 100;
        }
        Preset::Full => {}
    }
    (t, v)
}

/// Arguments of `vdd pipeline`.
#[derive(clap::Args)]
pub struct Args {
    /// Task (only `avoiding` has a closed-loop pipeline).
    #[arg(long, default_value = "avoiding")]
    pub task: String,
    /// Run sizes.
    #[arg(long, value_enum, default_value = "quick")]
    pub preset: Preset,
    /// Seed of everything (demonstrations, training, rollouts).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Final evaluation rollouts per policy.
    #[arg(long, default_value_t = 480)]
    pub rollouts: usize,
    /// Device: cpu (fastest here) or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// Median ms of one batched act call at `batch` windows of 5 for a policy.
fn bench(p: &mut Policy, batch: usize, reps: usize) -> Result<f64> {
    let mut rng = HostRng::new(0, 5);
    let obs: Vec<f64> = (0..batch * p.window() * p.obs_dim()).map(|_| rng.range(-0.3, 0.3)).collect();
    let mut out = vec![0.0; batch * p.act_dim()];
    let w = p.window();
    Ok(vdd::eval::median_ms(2, reps, || p.act_batch(&obs, w, &mut out))?)
}

fn row(what: &str, r: &RolloutReport) -> String {
    format!(
        "| {what} | {:.3} | {:.3} | {} | {:.3} | {:.1} |",
        r.success_rate, r.path_entropy, r.distinct_paths, r.path_kl, r.mean_episode_len
    )
}

/// Runs `vdd pipeline`.
pub fn run(a: &Args) -> Result<()> {
    if a.task != "avoiding" {
        bail!(
            "the closed-loop pipeline exists for `avoiding` only (got {:?}); see `vdd demo` for the analytic tasks",
            a.task
        );
    }
    let start = Instant::now();
    std::fs::create_dir_all(&a.out)?;
    let dev = super::device(&a.device)?;
    let (tcfg, vcfg) = configs(a.preset);
    let paths = ["demos.safetensors", "teacher.safetensors", "student.safetensors"].map(|f| a.out.join(f));
    let preset = match a.preset {
        Preset::Quick => "quick",
        Preset::Full => "full",
    };
    println!("== {NAME}, preset {preset}, seed {}", a.seed);
    let demos = av::demos(None, a.seed)?;
    demos.save(&paths[0])?;
    println!(
        "1/4 demonstrations: {} episodes, {} steps ({} rejected); wrote {}",
        demos.episodes.len(),
        demos.steps(),
        demos.rejected,
        paths[0].display()
    );
    let prior = demos.path_distribution();
    println!("2/4 teacher: BESO DiffusionGPT, {} steps of {} windows", tcfg.steps, tcfg.batch);
    let (teacher, t_secs, t_loss) = av::train_teacher(tcfg, &demos, &dev, a.seed, a.json)?;
    teacher
        .save(&paths[1], serde_json::json!({ "train_seconds": t_secs, "final_loss": t_loss, "alpha": demos.alpha }))?;
    let (tr, tenvs) = av::teacher_rollouts(&teacher, a.rollouts, demos.alpha, &prior, None, None, a.seed ^ 0x7e)?;
    println!("   trained in {t_secs:.0} s; {}", summary(&tr));
    println!(
        "3/4 student: VDD, {} experts, {} iterations of {} states × {} samples",
        vcfg.experts, vcfg.iters, vcfg.batch, vcfg.samples
    );
    let (student, train) = av::distill(&vcfg, &teacher, &demos, &dev, a.seed, 40, &paths[2], a.json)?;
    let (sr, senvs) = av::student_rollouts(&student, a.rollouts, demos.alpha, &prior, a.seed ^ 0x5e)?;
    student.save(
        &paths[2],
        serde_json::to_value(&vcfg)?,
        serde_json::json!({ "train": train, "rollouts": sr }),
        None,
    )?;
    println!("   trained in {:.0} s (best at iteration {}); {}", train.seconds, train.best_iter, summary(&sr));
    println!("4/4 figures and timing");
    av::plot(&tenvs, &format!("{NAME}: teacher, {} rollouts", tr.rollouts), &a.out.join("teacher_rollouts.png"))?;
    av::plot(
        &senvs,
        &format!("{NAME}: VDD student (8 experts), {} rollouts", sr.rollouts),
        &a.out.join("student_rollouts.png"),
    )?;
    let timing = time_both(&paths[2], &paths[1], &[1, 480])?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "\n{NAME} — {} rollouts each, seed {}, α = {} (not comparable to D3IL's numbers)",
        a.rollouts, a.seed, demos.alpha
    );
    println!("| policy | success | path entropy | distinct paths | path KL (nats) | mean length |\n|---|---|---|---|---|---|");
    println!("{}\n{}", row("BESO teacher (8 Euler-ancestral steps)", &tr), row("VDD student (8 experts)", &sr));
    for (b, mt, ms) in &timing {
        println!("ms per call at batch {b} (CPU): teacher {mt:.3}, student {ms:.4} — {:.0}× faster", mt / ms);
    }
    println!("pipeline finished in {secs:.0} s; outputs in {}", a.out.display());
    let report = serde_json::json!({
        "task": NAME, "preset": a.preset, "seed": a.seed, "device": dev.kind(), "seconds": secs, "alpha": demos.alpha,
        "demos": { "episodes": demos.episodes.len(), "steps": demos.steps(), "rejected": demos.rejected },
        "teacher": { "train_seconds": t_secs, "final_loss": t_loss, "config": teacher.cfg, "eval": tr },
        "student": { "train": train, "config": vcfg, "eval": sr },
        "ms_per_call_cpu": timing.iter().map(|(b, t, s)| serde_json::json!({ "batch": b, "teacher": t, "student": s })).collect::<Vec<_>>(),
    });
    vdd::io::write_atomic(&a.out.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    if a.json {
        println!("{report}");
    }
    Ok(())
}

fn summary(r: &RolloutReport) -> String {
    format!("success {:.3}, path entropy {:.3} ({} paths)", r.success_rate, r.path_entropy, r.distinct_paths)
}

/// `(batch, teacher ms, student ms)` per call on the CPU, both loaded through `Policy`.
pub fn time_both(student: &Path, teacher: &Path, batches: &[usize]) -> Result<Vec<(usize, f64, f64)>> {
    let (mut ps, mut pt) = (Policy::load(student)?, Policy::load(teacher)?);
    batches
        .iter()
        .map(|&b| {
            Ok((b, bench(&mut pt, b, if b == 1 { 20 } else { 3 })?, bench(&mut ps, b, if b == 1 { 200 } else { 10 })?))
        })
        .collect()
}

/// Arguments of `vdd ablate`.
#[derive(clap::Args)]
pub struct AblateArgs {
    /// Task (`avoiding`).
    #[arg(long, default_value = "avoiding")]
    pub task: String,
    /// Numbers of experts, comma-separated.
    #[arg(long, default_value = "1,2,4,8")]
    pub experts: String,
    /// Teacher checkpoint (default: train one with the preset's settings).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    /// Demonstrations (default: the scripted set, seeded).
    #[arg(long)]
    pub demos: Option<PathBuf>,
    /// Run sizes of the distillations (and of the teacher, if trained).
    #[arg(long, value_enum, default_value = "quick")]
    pub preset: Preset,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rollouts per student.
    #[arg(long, default_value_t = 480)]
    pub rollouts: usize,
    /// Device: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output directory (one student and one trajectory figure per Z).
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `vdd ablate`.
pub fn ablate(a: &AblateArgs) -> Result<()> {
    if a.task != "avoiding" {
        bail!("the expert ablation runs on `avoiding` only (got {:?})", a.task);
    }
    let zs: Vec<usize> = super::numbers(&a.experts)?.iter().map(|&z| z as usize).collect();
    if zs.contains(&0) {
        bail!("--experts must be positive integers");
    }
    std::fs::create_dir_all(&a.out)?;
    let dev = super::device(&a.device)?;
    let demos = av::demos(a.demos.as_deref(), a.seed)?;
    let prior = demos.path_distribution();
    let (tcfg, vbase) = configs(a.preset);
    let teacher = match &a.teacher {
        Some(p) => Teacher::load(p, &dev)?,
        None => {
            let (t, _, _) = av::train_teacher(tcfg, &demos, &dev, a.seed, a.json)?;
            t.save(&a.out.join("teacher.safetensors"), serde_json::Value::Null)?;
            t
        }
    };
    let mut rows = Vec::new();
    for &z in &zs {
        let cfg = VddConfig { experts: z, ..vbase.clone() };
        let path = a.out.join(format!("student_z{z}.safetensors"));
        let (s, train) = av::distill(&cfg, &teacher, &demos, &dev, a.seed, 40, &path, a.json)?;
        let (r, envs) = av::student_rollouts(&s, a.rollouts, demos.alpha, &prior, a.seed ^ 0xab)?;
        s.save(&path, serde_json::to_value(&cfg)?, serde_json::json!({ "train": train, "rollouts": r }), None)?;
        let fig = a.out.join(format!("trajectories_z{z}.png"));
        av::plot(&envs, &format!("{NAME}: VDD student, Z = {z}, {} rollouts", r.rollouts), &fig)?;
        println!(
            "Z = {z}: success {:.3}, path entropy {:.3} ({} paths); {}",
            r.success_rate,
            r.path_entropy,
            r.distinct_paths,
            fig.display()
        );
        rows.push(serde_json::json!({ "experts": z, "eval": r, "success_rate": r.success_rate, "path_entropy": r.path_entropy, "figure": fig }));
    }
    if a.json {
        println!("{}", serde_json::json!({ "task": NAME, "seed": a.seed, "device": dev.kind(), "students": rows }));
    }
    Ok(())
}
