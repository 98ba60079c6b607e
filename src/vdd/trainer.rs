//! The VDD training loop (spec §2.7): per iteration `cmp_steps` expert updates (E-step
//! responsibilities and the closed-form expert gradient from the fused kernels, carried through
//! heads and backbone by the tape, Adam) and `gating_steps` gating updates (cross-entropy to the
//! responsibilities of dataset actions, its own Adam), linear LR decay, periodic evaluation
//! keeping the best parameters, and a stop with a clear error on NaN/Inf.

use super::kmeans::kmeans_best;
use super::{DistillData, MeanInitKind, ScoreSource, VddConfig};
use crate::autodiff::Tape;
use crate::cpu::reduce::Reduce;
use crate::cpu::rng::HostRng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::io::Normalization;
use crate::kernels::rng::Dist;
use crate::moe::{MeanInit, Student, StudentConfig, StudentOut};
use crate::nn::{Adam, AdamConfig, LinearDecay};
use crate::tensor::{ops, Tensor};
use std::path::Path;
use std::time::Instant;

/// Progress after one iteration.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Iteration just finished (1-based).
    pub iter: u64,
    /// Total iterations.
    pub total: u64,
    /// Mean `log q̃(z|a)` of the experts' own samples (→ 0 when experts separate).
    pub log_resp: f64,
    /// Gating cross-entropy batch: mean `−log q(a_data|s)` (None with a fixed gating).
    pub data_nll: Option<f64>,
    /// An EM warm-start iteration ([`VddConfig::warm_start`]; `iter` counts those separately
    /// and `log_resp` is 0).
    pub warm: bool,
}

/// What a finished run reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainReport {
    /// Iterations run.
    pub iters: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Iteration of the kept parameters (the best evaluation, or the last one).
    pub best_iter: u64,
    /// Its evaluation score (lower is better), if evaluated.
    pub best_score: Option<f64>,
    /// `(iteration, score)` of every evaluation.
    pub history: Vec<(u64, f64)>,
}

/// The student a configuration describes for `data`, with means initialised as configured
/// (k-means of `init_samples` data actions, or uniform).
///
/// # Errors
/// Invalid configuration; device errors.
pub fn init_student(
    cfg: &VddConfig,
    data: &mut dyn DistillData,
    norm: Normalization,
    task: &str,
    device: &Device,
    seed: u64,
) -> Result<Student> {
    cfg.validate()?;
    let (z, d) = (cfg.experts, data.act_dim());
    let scfg = StudentConfig {
        obs_dim: data.obs_dim(),
        act_dim: d,
        experts: z,
        window: data.window(),
        gpt: cfg.gpt,
        feature: cfg.feature,
        mean: cfg.head,
        cov: cfg.head,
        full_cov: cfg.full_cov,
        gating: cfg.learn_gating.then_some((cfg.gating_hidden, cfg.gating_layers)),
        init_std: cfg.init_std,
        min_std: cfg.min_std,
    };
    let init = match cfg.mean_init {
        MeanInitKind::Uniform => MeanInit::Uniform(cfg.mean_init_bound),
        MeanInitKind::Kmeans => {
            let mut rng = HostRng::new(seed, 0x6b6d);
            let rows = cfg.init_samples.div_ceil(data.window());
            let (_, actions) = data.batch(rows, &mut rng);
            MeanInit::Centres(kmeans_best(&actions, d, z, 3, &mut rng))
        }
    };
    Student::new(scfg, norm, &init, task, device, seed)
}

/// Sizes of one update.
#[derive(Clone, Copy, Debug)]
pub struct UpdateShape {
    /// States B.
    pub batch: usize,
    /// Window T.
    pub window: usize,
    /// Samples V per expert.
    pub samples: usize,
}

/// Which terms and weights an expert update uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpertTerms {
    /// Keep the `log q̃` term ([`VddConfig::use_responsibilities`]).
    pub responsibilities: bool,
    /// Uniform gating in the expert loss ([`VddConfig::uniform_expert_weights`]).
    pub uniform_weights: bool,
}

impl ExpertTerms {
    /// The terms a configuration asks for.
    pub fn of(cfg: &VddConfig) -> Self {
        ExpertTerms { responsibilities: cfg.use_responsibilities, uniform_weights: cfg.uniform_expert_weights }
    }
}

/// The student's forward pass at `obs` (`[B, T, obs_dim]`, normalised) on a fresh training
/// tape seeded from `(seed, stream, salt)`, with the means and Cholesky factors viewed per row.
///
/// # Shapes
/// Returns `(tape, out, mean [B·T, Z, d], chol [B·T, Z, d, d])`.
fn forward_rows<'s>(
    student: &'s Student,
    obs: &[f64],
    shape: UpdateShape,
    seed: u64,
    stream: u64,
    salt: u64,
) -> Result<(Tape<'s>, StudentOut, Tensor, Tensor)> {
    let c = student.cfg();
    let (z, d, r) = (c.experts, c.act_dim, shape.batch * shape.window);
    let tape = Tape::new(&student.store, true, seed ^ (stream << 20) ^ salt);
    let x = Tensor::from_f64(&student.device(), obs, &[shape.batch, shape.window, c.obs_dim])?;
    let out = student.net.forward(&tape, &tape.constant(x))?;
    let mean = out.mean.value().reshape(&[r, z, d])?;
    let chol = out.chol.value().reshape(&[r, z, d, d])?;
    Ok((tape, out, mean, chol))
}

/// The log-gates weighting the experts' losses (`[R, Z]`): the gating's, or uniform ones when
/// `uniform` is set or the gating is fixed.
fn expert_log_gates(out: &StudentOut, dev: &Device, r: usize, z: usize, uniform: bool) -> Result<Tensor> {
    match &out.log_gates {
        Some(g) if !uniform => g.value().reshape(&[r, z]),
        _ => Tensor::full(dev, &[r, z], -(z as f32).ln()),
    }
}

/// One expert update's gradients (no optimiser step): the student's forward pass at `obs`
/// (`[B, T, obs_dim]`, normalised), `V` samples per expert with noise from stream
/// `(seed, stream)`, the score at them, the fused closed-form gradient of the per-expert bound
/// (with the gating's weights, or uniform ones, as `terms` says), and the tape's backward into
/// the store's gradient buffer (heads and backbone; the gating gets none). Returns the mean
/// `log q̃(z|a)` (read back: the update's one submission).
///
/// # Errors
/// Shape and device errors.
#[allow(clippy::too_many_arguments)]
pub fn expert_update(
    student: &Student,
    obs: &[f64],
    shape: UpdateShape,
    source: &ScoreSource,
    terms: ExpertTerms,
    seed: u64,
    stream: u64,
    rng: &mut HostRng,
) -> Result<f64> {
    let c = student.cfg();
    let (z, d) = (c.experts, c.act_dim);
    let UpdateShape { batch: b, window: t, samples: v } = shape;
    let r = b * t;
    let dev = student.device();
    let (tape, out, mean, chol) = forward_rows(student, obs, shape, seed, stream, 0xe)?;
    let log_g = expert_log_gates(&out, &dev, r, z, terms.uniform_weights)?;
    let eps = ops::random(&dev, &[r, z, v, d], Dist::Normal { mean: 0.0, std: 1.0 }, seed, (stream + 1) << 32)?;
    let a = ops::expert_sample(&mean, &chol, &eps)?;
    let score = source.score(obs, &a.reshape(&[b, t, z, v, d])?, rng)?.reshape(&[r, z, v, d])?;
    let g = ops::expert_grad(&mean, &chol, &log_g, &eps, &score, terms.responsibilities)?;
    let lr_mean = ops::reduce(&g.log_resp.reshape(&[r * z])?, Reduce::Mean)?;
    tape.backward_many(&[
        (&out.mean, g.d_mean.reshape(out.mean.shape())?),
        (&out.chol, g.d_chol.reshape(out.chol.shape())?),
    ])?;
    lr_mean.item()
}

/// One gating update's gradients (no optimiser step): the cross-entropy of the gating at
/// `obs` to the responsibilities of the dataset actions `actions` (`[B, T, d]`), back into the
/// gating network only. Returns the batch's mean `−log q(a|s)`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a student with a fixed gating; shape and device errors.
pub fn gating_update(
    student: &Student,
    obs: &[f64],
    actions: &[f64],
    shape: UpdateShape,
    seed: u64,
    stream: u64,
) -> Result<f64> {
    let c = student.cfg();
    let (z, d) = (c.experts, c.act_dim);
    let r = shape.batch * shape.window;
    let (tape, out, mean, chol) = forward_rows(student, obs, shape, seed, stream, 0x9)?;
    let Some(lg) = out.log_gates.as_ref() else {
        return Err(Error::invalid("gating update", "the student's gating is fixed"));
    };
    let acts = Tensor::from_f64(&student.device(), actions, &[r, d])?;
    let (lq, dlg) = ops::mixture_log_prob(&mean, &chol, &lg.value().reshape(&[r, z])?, &acts)?;
    let nll = ops::reduce(&lq, Reduce::Mean)?;
    tape.backward_many(&[(lg, dlg.reshape(lg.shape())?)])?;
    Ok(-nll.item()?)
}

/// One EM warm-start expert step's gradients (no optimiser step): the student's forward pass
/// at `obs`, the gradient of the mixture NLL of the dataset actions `actions` (`[B, T, d]`,
/// normalised) with the gates constant (the learned ones, or uniform as `uniform_weights`
/// says), back into heads and backbone. Returns the batch's mean `−log q(a|s)`.
///
/// # Errors
/// Shape and device errors.
pub fn warm_start_update(
    student: &Student,
    obs: &[f64],
    actions: &[f64],
    shape: UpdateShape,
    uniform_weights: bool,
    seed: u64,
    stream: u64,
) -> Result<f64> {
    let c = student.cfg();
    let (z, d) = (c.experts, c.act_dim);
    let r = shape.batch * shape.window;
    let dev = student.device();
    let (tape, out, mean, chol) = forward_rows(student, obs, shape, seed, stream, 0x3a)?;
    let log_g = expert_log_gates(&out, &dev, r, z, uniform_weights)?;
    let acts = Tensor::from_f64(&dev, actions, &[r, d])?;
    let (lq, dm, dl) = ops::mixture_nll_grad(&mean, &chol, &log_g, &acts)?;
    let nll = ops::reduce(&lq, Reduce::Mean)?;
    tape.backward_many(&[(&out.mean, dm.reshape(out.mean.shape())?), (&out.chol, dl.reshape(out.chol.shape())?)])?;
    Ok(-nll.item()?)
}

/// Evaluation hook: a score of the current student (lower is better), or None to skip.
pub type Evaluate<'h> = &'h mut dyn FnMut(&Student, u64) -> Result<Option<f64>>;

/// Runs VDD on `student` for `cfg.iters` iterations. Every `eval_every` iterations (and at
/// the end) `evaluate` scores the student; the best parameters are kept (written to
/// `checkpoint` when given, atomically) and loaded into the student at the end.
///
/// # Errors
/// [`Error::Diverged`] naming the iteration when a loss or statistic becomes non-finite (the
/// last good checkpoint stays on disk); shape and device errors.
#[allow(clippy::too_many_arguments)]
pub fn distill(
    cfg: &VddConfig,
    student: &mut Student,
    data: &mut dyn DistillData,
    source: &ScoreSource,
    seed: u64,
    checkpoint: Option<&Path>,
    progress: &mut dyn FnMut(&Progress),
    evaluate: Evaluate,
) -> Result<TrainReport> {
    cfg.validate()?;
    let start = Instant::now();
    let store = &student.store;
    let gating_ids = student.net.gating_params(store);
    let n_expert_params = match &gating_ids {
        Some(ids) => store.span(ids)?.0,
        None => store.numel(),
    };
    let expert_ids: Vec<_> =
        (0..store.len()).filter(|&i| store.entries()[i].offset < n_expert_params).map(crate::nn::ParamId).collect();
    let adam = |lr| AdamConfig { lr, ..AdamConfig::default() };
    let mut opt_e = Adam::for_params(store, &expert_ids, adam(cfg.lr))?;
    let mut opt_g = match &gating_ids {
        Some(ids) => Some(Adam::for_params(store, ids, adam(cfg.gating_lr))?),
        None => None,
    };
    let sched_e = LinearDecay::to_zero(cfg.lr, cfg.iters * cfg.cmp_steps);
    let sched_g = LinearDecay::to_zero(cfg.gating_lr, (cfg.iters * cfg.gating_steps).max(1));
    let b = cfg.batch;
    let shape = UpdateShape { batch: b, window: data.window(), samples: cfg.samples };
    let mut rng = HostRng::new(seed, 0x7dd);
    let mut report = TrainReport { iters: 0, seconds: 0.0, best_iter: 0, best_score: None, history: Vec::new() };
    let mut best: Option<Vec<f32>> = None;
    let (mut n_e, mut n_g) = (0u64, 0u64);
    let save = |s: &Student, vals: Option<&[f32]>, it: u64, score: Option<f64>| -> Result<()> {
        match checkpoint {
            Some(p) => s.save(
                p,
                serde_json::to_value(cfg).expect("config serialises"),
                serde_json::json!({ "iter": it, "eval_score": score, "score_source": source.describe() }),
                vals,
            ),
            None => Ok(()),
        }
    };
    let diverged = |it: u64, what: &str, value: f64| Error::Diverged {
        step: it,
        msg: format!(
            "{what} is {value}{}",
            checkpoint.map(|p| format!("; the last good checkpoint {} is kept", p.display())).unwrap_or_default()
        ),
    };
    if cfg.warm_start > 0 {
        let mut opt_w = Adam::for_params(store, &expert_ids, adam(cfg.warm_start_lr))?;
        for it in 1..=cfg.warm_start {
            let (obs, acts) = data.batch(b, &mut rng);
            let nv = warm_start_update(student, &obs, &acts, shape, cfg.uniform_expert_weights, seed, it)?;
            if !nv.is_finite() {
                return Err(diverged(it, "the warm start's negative log-likelihood of the data batch", nv));
            }
            opt_w.step(store, cfg.warm_start_lr)?;
            if let Some(opt) = opt_g.as_mut() {
                let (obs, acts) = data.batch(b, &mut rng);
                let gv = gating_update(student, &obs, &acts, shape, seed, u64::MAX - it)?;
                if !gv.is_finite() {
                    return Err(diverged(it, "the warm start's gating negative log-likelihood", gv));
                }
                opt.step(store, cfg.gating_lr)?;
            }
            progress(&Progress { iter: it, total: cfg.warm_start, log_resp: 0.0, data_nll: Some(nv), warm: true });
        }
        if cfg.eval_every > 0 {
            if let Some(score) = evaluate(student, 0)? {
                if !score.is_finite() {
                    return Err(diverged(0, "the evaluation score after the warm start", score));
                }
                report.history.push((0, score));
            }
        }
    }
    for it in 1..=cfg.iters {
        let mut log_resp = 0.0;
        for _ in 0..cfg.cmp_steps {
            let (obs, _) = data.batch(b, &mut rng);
            let lv = expert_update(student, &obs, shape, source, ExpertTerms::of(cfg), seed, n_e, &mut rng)?;
            if !lv.is_finite() {
                return Err(diverged(it, "the mean log-responsibility of the experts' samples", lv));
            }
            opt_e.step(store, sched_e.lr(n_e))?;
            n_e += 1;
            log_resp = lv;
        }
        let mut data_nll = None;
        if let Some(opt) = opt_g.as_mut() {
            for _ in 0..cfg.gating_steps {
                let (obs, acts) = data.batch(b, &mut rng);
                let nv = gating_update(student, &obs, &acts, shape, seed, n_g)?;
                if !nv.is_finite() {
                    return Err(diverged(it, "the negative log-likelihood of the data batch", nv));
                }
                opt.step(store, sched_g.lr(n_g))?;
                n_g += 1;
                data_nll = Some(nv);
            }
        }
        report.iters = it;
        progress(&Progress { iter: it, total: cfg.iters, log_resp, data_nll, warm: false });
        let due = (cfg.eval_every > 0 && it % cfg.eval_every == 0) || it == cfg.iters;
        if due {
            if let Some(score) = evaluate(student, it)? {
                if !score.is_finite() {
                    return Err(diverged(it, "the evaluation score", score));
                }
                report.history.push((it, score));
                if report.best_score.is_none_or(|b| score < b) {
                    report.best_score = Some(score);
                    report.best_iter = it;
                    let vals = store.flat().to_vec()?;
                    save(student, Some(&vals), it, Some(score))?;
                    best = Some(vals);
                }
            }
        }
    }
    match best {
        Some(vals) => store.load(&vals)?,
        None => {
            report.best_iter = report.iters;
            save(student, None, report.iters, None)?;
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
