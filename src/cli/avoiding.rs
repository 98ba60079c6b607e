//! The Avoiding-2D side of the commands: demonstrations, teacher training on them,
//! distillation at their states, closed-loop evaluation and trajectory figures.

use super::eval::Loaded;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;
use vdd::cpu::rng::HostRng;
use vdd::diffusion::{Sampler, Teacher, TeacherConfig};
use vdd::moe::Student;
use vdd::rollout::{self, RolloutReport, StudentActor, TeacherActor};
use vdd::tasks::avoiding::{self as av, Env};
use vdd::tasks::demos::{DemoData, Demos};
use vdd::vdd::{self as v, ScoreSource, TrainReport, VddConfig};
use vdd::Device;

/// Reads `path`, or generates the default scripted set (seeded) when None.
pub fn demos(path: Option<&Path>, seed: u64) -> Result<Demos> {
    match path {
        Some(p) => Demos::load(p).with_context(|| format!("reading demonstrations {}", p.display())),
        None => Ok(Demos::scripted(
            av::DEFAULT_DEMOS_PER_PATH,
            av::DEFAULT_ALPHA,
            av::DEFAULT_DEMO_NOISE,
            av::DEFAULT_DEMO_STYLE,
            seed,
        )),
    }
}

/// Runs `n` rollouts of a loaded policy.
pub fn evaluate(
    loaded: &Loaded,
    n: usize,
    alpha: f64,
    prior: &[f64; av::PATHS],
    sampler: Option<Sampler>,
    steps: Option<usize>,
    seed: u64,
) -> Result<(RolloutReport, Vec<Env>)> {
    match loaded {
        Loaded::Student(s) => student_rollouts(s, n, alpha, prior, seed),
        Loaded::Teacher(t) => teacher_rollouts(t, n, alpha, prior, sampler, steps, seed),
    }
}

/// Rollouts of a student (sampled expert, its mean).
pub fn student_rollouts(
    s: &Student,
    n: usize,
    alpha: f64,
    prior: &[f64; av::PATHS],
    seed: u64,
) -> Result<(RolloutReport, Vec<Env>)> {
    let mut actor = StudentActor { student: s, greedy: false, rng: HostRng::new(seed, 0xac7) };
    Ok(rollout::rollouts(&mut actor, n, alpha, prior)?)
}

/// Rollouts of a teacher (one sampled action window per step).
pub fn teacher_rollouts(
    t: &Teacher,
    n: usize,
    alpha: f64,
    prior: &[f64; av::PATHS],
    sampler: Option<Sampler>,
    steps: Option<usize>,
    seed: u64,
) -> Result<(RolloutReport, Vec<Env>)> {
    let mut actor = TeacherActor { teacher: t, sampler, steps, seed };
    Ok(rollout::rollouts(&mut actor, n, alpha, prior)?)
}

/// Prints a rollout report.
pub fn print_report(r: &RolloutReport) {
    println!(
        "{} rollouts: success {:.3}, path entropy {:.3} ({} distinct paths), path KL {:.3} nats, collisions {:.3}, mean length {:.1}, {:.3} ms per call ({:.4} ms per action)",
        r.rollouts, r.success_rate, r.path_entropy, r.distinct_paths, r.path_kl, r.collision_rate, r.mean_episode_len, r.ms_per_call, r.ms_per_action
    );
}

/// Trains a DiffusionGPT teacher on the demonstrations (their normalisation is stored).
/// Returns the teacher, the training seconds and the mean loss of the last 200 steps.
pub fn train_teacher(
    cfg: TeacherConfig,
    demos: &Demos,
    dev: &Device,
    seed: u64,
    quiet: bool,
) -> Result<(Teacher, f64, f64)> {
    let norm = demos.normalization();
    let mut data = DemoData::new(demos, &norm, cfg.net.window())?;
    let pb = super::progress(cfg.steps, &format!("teacher {:?} on {}", cfg.kind, av::NAME), quiet);
    let start = Instant::now();
    let mut recent = std::collections::VecDeque::new();
    let t = Teacher::train(cfg, "avoiding", &mut data, norm, dev, seed, |p| {
        recent.push_back(p.loss);
        if recent.len() > 200 {
            recent.pop_front();
        }
        if p.step % 10 == 0 || p.step == p.total {
            pb.set_position(p.step);
            pb.set_message(format!("loss {:.4}", recent.iter().sum::<f64>() / recent.len() as f64));
        }
    })?;
    pb.finish_and_clear();
    let loss = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
    Ok((t, start.elapsed().as_secs_f64(), loss))
}

/// D3IL's model-selection score `0.8·success + 0.2·entropy`.
pub fn selection_score(r: &RolloutReport) -> f64 {
    0.8 * r.success_rate + 0.2 * r.path_entropy
}

/// Distils `teacher` at the demonstrations' states; every `cfg.eval_every` iterations
/// `eval_rollouts` rollouts pick the best parameters by [`selection_score`].
#[allow(clippy::too_many_arguments)]
pub fn distill(
    cfg: &VddConfig,
    teacher: &Teacher,
    demos: &Demos,
    dev: &Device,
    seed: u64,
    eval_rollouts: usize,
    out: &Path,
    quiet: bool,
) -> Result<(Student, TrainReport)> {
    let norm = teacher.norm.clone();
    let window = cfg.gpt.map_or(1, |g| g.max_tokens);
    let mut data = DemoData::new(demos, &norm, window)?;
    let source = ScoreSource::teacher(teacher, av::OBS_DIM, av::ACT_DIM, cfg.noise.unwrap_or([0.2, 0.5]))?;
    let mut student = v::init_student(cfg, &mut data, norm, "avoiding", dev, seed)?;
    let pb = super::vdd_bar(cfg, &format!("distill {} ({})", av::NAME, source.describe()), quiet);
    let prior = demos.path_distribution();
    let mut evaluate = |s: &Student, it: u64| -> vdd::Result<Option<f64>> {
        let mut actor = StudentActor { student: s, greedy: false, rng: HostRng::new(seed ^ it, 0xe7) };
        let (r, _) = rollout::rollouts(&mut actor, eval_rollouts, demos.alpha, &prior)?;
        let line = format!(
            "iteration {it}: success {:.3}, path entropy {:.3} ({} paths, {} rollouts)",
            r.success_rate, r.path_entropy, r.distinct_paths, r.rollouts
        );
        pb.println(line);
        Ok(Some(-selection_score(&r)))
    };
    let report = v::distill(
        cfg,
        &mut student,
        &mut data,
        &source,
        seed,
        Some(out),
        &mut |p| super::vdd_progress(&pb, cfg.warm_start, p),
        &mut evaluate,
    )?;
    pb.finish_and_clear();
    Ok((student, report))
}

/// Draws rollout trajectories over the obstacles, coloured by path (failures in grey).
pub fn plot(envs: &[Env], title: &str, out: &Path) -> Result<()> {
    use plotters::prelude::*;
    vdd::plot::figure(out, title, (0.2, 0.85), (-0.32, 0.42), |c| {
        let err = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
        let ring = |x: f64, y: f64, r: f64| -> Vec<(f64, f64)> {
            (0..=64)
                .map(|k| k as f64 / 64.0 * std::f64::consts::TAU)
                .map(|a| (x + r * a.cos(), y + r * a.sin()))
                .collect()
        };
        for (x, y, r) in av::OBSTACLES {
            c.draw_series([Polygon::new(ring(x, y, r), BLACK.mix(0.8).filled())]).map_err(err)?;
            c.draw_series(LineSeries::new(ring(x, y, r + av::ROD_RADIUS), BLACK.mix(0.3))).map_err(err)?;
        }
        c.draw_series(LineSeries::new([(0.2, av::SUCCESS_Y), (0.85, av::SUCCESS_Y)], GREEN.stroke_width(2)))
            .map_err(err)?;
        for e in envs {
            let color = match av::path_index(e.code).filter(|_| e.success) {
                Some(p) => HSLColor(p as f64 / av::PATHS as f64, 0.8, 0.45).to_rgba(),
                None => RGBColor(150, 150, 150).to_rgba(),
            };
            let pts: Vec<(f64, f64)> = e.trajectory.iter().map(|p| (p[0], p[1])).collect();
            c.draw_series(LineSeries::new(pts, color.mix(0.6).stroke_width(1))).map_err(err)?;
        }
        c.draw_series([Circle::new((av::START[0], av::START[1]), 5, RED.filled())]).map_err(err)?;
        Ok(())
    })?;
    Ok(())
}

/// `vdd distill --task avoiding`.
pub fn distill_cmd(a: &super::distill::Args) -> Result<()> {
    let dev = super::device(&a.device)?;
    if a.teacher == "exact" {
        anyhow::bail!(
            "avoiding has no exact score: give --teacher <checkpoint> (train one with `vdd teacher --task avoiding`)"
        );
    }
    let teacher = Teacher::load(a.teacher.as_ref(), &dev).with_context(|| format!("loading teacher {}", a.teacher))?;
    let demos = demos(a.demos.as_deref(), a.seed)?;
    let cfg = super::distill::overrides(a, VddConfig::for_task("avoiding", 0, true))?;
    let (student, train) = distill(&cfg, &teacher, &demos, &dev, a.seed, a.eval_rollouts, &a.out, a.json)?;
    let (r, _) = student_rollouts(&student, 480, demos.alpha, &demos.path_distribution(), a.seed ^ 0x480)?;
    let extra = serde_json::json!({ "train": train, "rollouts": r, "score_source": "teacher", "teacher": a.teacher });
    student.save(&a.out, serde_json::to_value(&cfg)?, extra, None)?;
    println!(
        "distilled {} with {} experts in {:.1} s ({} iterations, best at {}); saved {}",
        av::NAME,
        cfg.experts,
        train.seconds,
        train.iters,
        train.best_iter,
        a.out.display()
    );
    print_report(&r);
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "task": "avoiding", "seed": a.seed, "device": dev.kind(), "out": a.out, "train": train, "eval": r,
            "success_rate": r.success_rate, "path_entropy": r.path_entropy, "path_kl": r.path_kl, "mean_episode_len": r.mean_episode_len })
        );
    }
    Ok(())
}
