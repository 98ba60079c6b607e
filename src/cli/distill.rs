//! `vdd distill`: distil a teacher (or the exact score of an analytic target) into a
//! Gaussian-mixture student with VDD.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use vdd::diffusion::Teacher;
use vdd::eval::{self, EvalReport};
use vdd::io::Normalization;
use vdd::metrics::{self, ExpertMatch};
use vdd::moe::Student;
use vdd::tasks::AnalyticTask;
use vdd::vdd::{self as v, MeanInitKind, ScoreSource, TrainReport, VddConfig};

/// Covariance type of the experts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Cov {
    /// Full (Cholesky) covariances.
    Full,
    /// Diagonal covariances.
    Diag,
}

/// Gating type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Gating {
    /// Learned gating network fitted to the responsibilities of data actions.
    Learned,
    /// Fixed uniform gating 1/Z.
    Uniform,
}

/// Arguments of `vdd distill`.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// Task: ring, aniso, cond-ring or gmm:<file.toml>.
    #[arg(long)]
    pub task: String,
    /// Teacher checkpoint, or `exact` for the analytic target's own score.
    #[arg(long, default_value = "exact")]
    pub teacher: String,
    /// Experts Z (default per task: 8, at least the target's modes for gmm: files).
    #[arg(long)]
    pub experts: Option<usize>,
    /// Covariance type (default per task: diag for ring, else full).
    #[arg(long, value_enum)]
    pub cov: Option<Cov>,
    /// Gating (default per task: uniform for ring, else learned).
    #[arg(long, value_enum)]
    pub gating: Option<Gating>,
    /// Iterations (default per task: 600, cond-ring 6000, avoiding 500 after a warm start of 3000).
    #[arg(long)]
    pub iters: Option<u64>,
    /// Noise range `lo,hi` of the score: σ of the smoothed exact score, or of the teacher query
    /// (default: none for exact, 0.2,0.5 for teachers; avoiding 0.5,1).
    #[arg(long)]
    pub sigma: Option<String>,
    /// Expert mean initialisation.
    #[arg(long, value_enum)]
    pub mean_init: Option<MeanInitKind>,
    /// Drop the −log q̃ responsibility term (ablation: experts collapse).
    #[arg(long)]
    pub no_responsibilities: bool,
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: cpu (fastest for the small toy networks) or gpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// TOML file overriding any field of the VDD configuration.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Demonstrations whose states to distil at (avoiding; default: the scripted set, seeded).
    #[arg(long)]
    pub demos: Option<PathBuf>,
    /// Rollouts per periodic evaluation (avoiding; the best by 0.8·success + 0.2·entropy is kept).
    #[arg(long, default_value_t = 40)]
    pub eval_rollouts: usize,
    /// Output checkpoint (the best evaluation is kept).
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

/// The result of a distillation run.
pub struct Outcome {
    /// The trained student.
    pub student: Student,
    /// Training summary.
    pub train: TrainReport,
    /// Evaluation against the task.
    pub eval: EvalReport,
    /// Expert-to-mode matching at the first test state.
    pub matching: ExpertMatch,
    /// The configuration used.
    pub cfg: VddConfig,
}

/// The configuration `a` describes for `task`.
pub fn config(a: &Args, task: &AnalyticTask, with_teacher: bool) -> Result<VddConfig> {
    let modes = task.mixture(&task.test_states(1)).components();
    overrides(a, VddConfig::for_task(task.name(), modes, with_teacher))
}

/// `a`'s `--config` file and flags applied to `cfg`.
pub fn overrides(a: &Args, mut cfg: VddConfig) -> Result<VddConfig> {
    if let Some((text, origin)) = super::read_config(a.config.as_deref())? {
        cfg = cfg.with_toml(&text, &origin)?;
    }
    if let Some(z) = a.experts {
        cfg.experts = z;
    }
    if let Some(c) = a.cov {
        cfg.full_cov = c == Cov::Full;
    }
    if let Some(g) = a.gating {
        cfg.learn_gating = g == Gating::Learned;
    }
    if let Some(i) = a.iters {
        cfg.iters = i;
    }
    if let Some(s) = &a.sigma {
        let v = super::numbers(s)?;
        let [lo, hi] = v[..] else { bail!("--sigma takes two numbers lo,hi (got {s:?})") };
        cfg.noise = Some([lo, hi]);
    }
    if let Some(m) = a.mean_init {
        cfg.mean_init = m;
    }
    if a.no_responsibilities {
        cfg.use_responsibilities = false;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Trains, evaluates and saves; prints a summary unless `quiet`.
pub fn distill(a: &Args, quiet: bool) -> Result<Outcome> {
    let task = super::task(&a.task)?;
    let dev = super::device(&a.device)?;
    let teacher = match a.teacher.as_str() {
        "exact" => None,
        path => Some(Teacher::load(path.as_ref(), &dev).with_context(|| format!("loading teacher {path}"))?),
    };
    let cfg = config(a, &task, teacher.is_some())?;
    let norm =
        teacher.as_ref().map_or_else(|| Normalization::identity(task.state_dim(), task.act_dim()), |t| t.norm.clone());
    let source = match &teacher {
        None => ScoreSource::Exact { task: &task, norm: norm.clone(), noise: cfg.noise },
        Some(t) => ScoreSource::teacher(t, task.state_dim(), task.act_dim(), cfg.noise.unwrap_or([0.2, 0.5]))?,
    };
    let pb = super::vdd_bar(&cfg, &format!("distill {} ({})", task.name(), source.describe()), quiet);
    let (student, train) = v::distill_analytic(&cfg, &task, &source, &dev, a.seed, Some(&a.out), &mut |p| {
        if p.iter % 10 == 0 || p.iter == p.total {
            super::vdd_progress(&pb, cfg.warm_start, p);
        }
    })?;
    pb.finish_and_clear();
    let states = if task.conditional() { 16 } else { 1 };
    let report = eval::evaluate(&student, &task, states, 2000, a.seed ^ 0xe7a1)?;
    let test = task.test_states(1);
    let m = student.mixtures(&test, 1)?;
    let covs: Vec<f64> = (0..m.experts).flat_map(|z| m.cov(0, z)).collect();
    let matching = metrics::expert_match(&m.weights[..m.experts], &m.means, &covs, &task.mixture(&test));
    // Rewrite the kept checkpoint with the final evaluation in its metadata.
    let extra = serde_json::json!({ "train": train, "eval": report, "expert_match": matching, "score_source": source.describe() });
    student.save(&a.out, serde_json::to_value(&cfg)?, extra, None)?;
    if !quiet {
        println!(
            "distilled {} with {} experts ({}) in {:.1} s ({} iterations, best at {}, {}); saved {}",
            task.name(),
            cfg.experts,
            source.describe(),
            train.seconds,
            train.iters,
            train.best_iter,
            dev.describe(),
            a.out.display()
        );
        super::eval::print_report(&report);
        print_match(&matching);
    }
    Ok(Outcome { student, train, eval: report, matching, cfg })
}

/// Prints the expert-to-mode matching.
pub fn print_match(m: &ExpertMatch) {
    let ratios: Vec<String> = m.std_ratios.iter().map(|r| format!("{r:.3}")).collect();
    let weights: Vec<String> = m.mode_weights.iter().map(|r| format!("{r:.3}")).collect();
    println!(
        "experts on modes: max mean distance {:.4}, {} of {} modes within one std; expert/target std {}; gating mass per mode {}",
        m.max_distance,
        m.modes_within_std,
        m.distances.len(),
        ratios.join(" "),
        weights.join(" ")
    );
}

/// Runs `vdd distill`.
pub fn run(a: &Args) -> Result<()> {
    if a.task == "avoiding" {
        return super::avoiding::distill_cmd(a);
    }
    let o = distill(a, a.json)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "task": a.task, "teacher": a.teacher, "seed": a.seed, "device": a.device, "out": a.out,
                "config": o.cfg, "train": o.train, "eval": o.eval, "expert_match": o.matching,
                "modes_covered": o.eval.modes_covered, "modes_total": o.eval.modes_total,
                "nll": o.eval.nll, "reverse_kl": o.eval.reverse_kl, "mmd2": o.eval.mmd2, "w2": o.eval.w2,
                "mode_entropy": o.eval.mode_entropy, "hq_fraction": o.eval.hq_fraction,
            })
        );
    }
    Ok(())
}
