//! `vdd demo`: the whole pipeline on the paper's toy (`ring`): train a BESO teacher on target
//! samples, distil it into 8 experts with VDD, evaluate both against the exact target, draw
//! both, and compare them — metrics and time per action at batch 1 and 1024.

use super::{distill, plot, teacher};
use anyhow::Result;
use std::path::PathBuf;
use std::time::Instant;
use vdd::cpu::rng::HostRng;
use vdd::diffusion::TeacherKind;
use vdd::eval::{self, EvalReport};

/// Arguments of `vdd demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Output directory (checkpoints, figures, report.json).
    #[arg(long, default_value = "vdd-demo")]
    pub out: PathBuf,
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device for training and timing: cpu (fastest for these small networks) or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Teacher training steps.
    #[arg(long, default_value_t = 10000)]
    pub teacher_steps: u64,
    /// Distillation iterations (default: the task's, 600).
    #[arg(long)]
    pub iters: Option<u64>,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

/// Runs `vdd demo`.
pub fn run(a: &Args) -> Result<()> {
    let start = Instant::now();
    std::fs::create_dir_all(&a.out)?;
    let (tpath, spath) = (a.out.join("teacher.safetensors"), a.out.join("student.safetensors"));
    println!("== 1/4 teacher: BESO diffusion policy trained on samples of `ring` ({} steps)", a.teacher_steps);
    let t = teacher::run(&teacher::Args {
        task: "ring".into(),
        kind: TeacherKind::Beso,
        steps: Some(a.teacher_steps),
        seed: a.seed,
        device: a.device.clone(),
        config: None,
        demos: None,
        rollouts: 0,
        out: tpath.clone(),
        json: false,
    })?;
    println!("\n== 2/4 distillation: VDD, 8 experts, scores of the teacher at σ ~ U[0.2, 0.5]");
    let d = distill::distill(
        &distill::Args {
            task: "ring".into(),
            teacher: tpath.display().to_string(),
            experts: None,
            cov: None,
            gating: None,
            iters: a.iters,
            sigma: None,
            mean_init: None,
            no_responsibilities: false,
            seed: a.seed,
            device: a.device.clone(),
            config: None,
            demos: None,
            eval_rollouts: 0,
            out: spath.clone(),
            json: false,
        },
        false,
    )?;
    println!("\n== 3/4 evaluation against the exact target and figures");
    let task = super::task("ring")?;
    let te = eval::evaluate(&t.policy(None, None), &task, 1, 2000, a.seed ^ 0xe7a1)?;
    let se: EvalReport = d.eval.clone();
    let (tfig, sfig) = (a.out.join("teacher.png"), a.out.join("student.png"));
    let state = task.test_states(1);
    plot::draw_teacher(&t, &task, &state, &tfig)?;
    plot::draw_student(&d.student, &task, &state, &sfig)?;
    println!("wrote {} and {}", tfig.display(), sfig.display());
    let (s, dev) = (&d.student, super::device(&a.device)?);
    println!("\n== 4/4 time per action on {} (median after warm-up)", dev.describe());
    let mut timing = Vec::new();
    for batch in [1usize, 1024] {
        let states: Vec<f64> = task.test_states(batch);
        let reps = if batch == 1 { 50 } else { 5 };
        let mut rng = HostRng::new(a.seed, 9);
        let ms_t = eval::median_ms(2, reps, || t.sample(&states, 1, None, None, 1).map(drop))?;
        let ms_s = eval::median_ms(5, reps * 4, || s.act(&states, 1, false, &mut rng).map(drop))?;
        timing.push((batch, ms_t, ms_s));
    }
    let steps = t.cfg.sample_steps;
    println!("\nring (8 Gaussians, std 0.5, radius 2): teacher vs distilled student, {} samples", se.samples);
    println!("| metric | BESO teacher ({steps}-step Euler-ancestral) | VDD student (8 experts) |");
    println!("|---|---|---|");
    let rows: [(&str, Option<f64>, Option<f64>, usize); 8] = [
        ("modes covered (of 8)", Some(te.modes_covered), Some(se.modes_covered), 0),
        ("normalised mode entropy", Some(te.mode_entropy), Some(se.mode_entropy), 3),
        ("high-quality fraction", Some(te.hq_fraction), Some(se.hq_fraction), 3),
        ("MMD² (RBF, median bw)", Some(te.mmd2), Some(se.mmd2), 5),
        ("W₂", Some(te.w2), Some(se.w2), 4),
        ("test NLL (nats; target entropy 3.183)", te.nll, se.nll, 4),
        ("reverse KL(q‖p)", te.reverse_kl, se.reverse_kl, 4),
        ("forward KL(p‖q)", te.forward_kl, se.forward_kl, 4),
    ];
    for (name, x, y, dg) in rows {
        println!("| {name} | {} | {} |", fmt(x, dg), fmt(y, dg));
    }
    for (b, mt, ms) in &timing {
        println!(
            "| ms per call at batch {b} (µs per action) | {mt:.3} ({:.2}) | {ms:.4} ({:.2}); {:.0}× faster |",
            1e3 * mt / *b as f64,
            1e3 * ms / *b as f64,
            mt / ms
        );
    }
    // The teacher is queried at σ ~ U[lo, hi] (spec §2.4): the experts fit the σ-smoothed
    // modes, of std √(0.5² + E σ²).
    let [lo, hi] = d.cfg.noise.unwrap_or([0.0, 0.0]);
    let e_s2 = if hi > lo { (hi.powi(3) - lo.powi(3)) / (3.0 * (hi - lo)) } else { lo * lo };
    println!(
        "\nexperts on the modes: max mean distance {:.3}; stds / 0.5 between {:.3} and {:.3} (the σ-smoothed target of the teacher queries: {:.3})",
        d.matching.max_distance,
        d.matching.std_ratios.iter().cloned().fold(f64::INFINITY, f64::min),
        d.matching.std_ratios.iter().cloned().fold(0.0, f64::max),
        (0.25 + e_s2).sqrt() / 0.5
    );
    let secs = start.elapsed().as_secs_f64();
    println!("demo finished in {secs:.0} s; outputs in {}", a.out.display());
    let report = serde_json::json!({
        "task": "ring", "seed": a.seed, "device": dev.kind(), "seconds": secs,
        "teacher": { "eval": te, "sampler_steps": steps },
        "student": { "eval": se, "expert_match": d.matching, "train": d.train },
        "ms_per_action": timing.iter().map(|(b, mt, ms)| serde_json::json!({ "batch": b, "teacher": mt, "student": ms })).collect::<Vec<_>>(),
    });
    vdd::io::write_atomic(&a.out.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    if a.json {
        println!("{report}");
    }
    Ok(())
}
