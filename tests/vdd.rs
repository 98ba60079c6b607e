//! VDD end to end on the analytic targets, asserting on learned quality: modes covered, expert
//! means on the modes, expert stds, recovered weights, NLL; the −log q̃ ablation; robustness to
//! where the modes are (k-means vs the reference's uniform init); GPU against CPU gradients;
//! one submission per update; NaN handling; checkpoints and bad input.
mod common;

use common::*;
use vdd::cpu::rng::HostRng;
use vdd::diffusion::{Teacher, TeacherConfig, TeacherKind};
use vdd::eval::{self, EvalReport};
use vdd::io::Normalization;
use vdd::metrics::{self, ExpertMatch};
use vdd::moe::Student;
use vdd::tasks::{self, AnalyticTask};
use vdd::vdd::{self as v, AnalyticData, DistillData, ExpertTerms, MeanInitKind, ScoreSource, UpdateShape, VddConfig};
use vdd::{Device, Error};

struct Run {
    eval: EvalReport,
    matching: ExpertMatch,
}

fn exact(task: &AnalyticTask) -> ScoreSource<'_> {
    ScoreSource::Exact { task, norm: Normalization::identity(task.state_dim(), task.act_dim()), noise: None }
}

fn run(task: &AnalyticTask, cfg: &VddConfig, seed: u64) -> Run {
    let (student, _) = v::distill_analytic(cfg, task, &exact(task), &Device::Cpu, seed, None, &mut |_| {}).unwrap();
    let states = if task.conditional() { 16 } else { 1 };
    let eval = eval::evaluate(&student, task, states, 2000, seed ^ 0xabc).unwrap();
    let test = task.test_states(1);
    let m = student.mixtures(&test, 1).unwrap();
    let covs: Vec<f64> = (0..m.experts).flat_map(|z| m.cov(0, z)).collect();
    let matching = metrics::expert_match(&m.weights, &m.means, &covs, &task.mixture(&test));
    Run { eval, matching }
}

fn defaults(task: &AnalyticTask) -> VddConfig {
    let modes = task.mixture(&task.test_states(1)).components();
    VddConfig::for_task(task.name(), modes, false)
}

#[test]
fn ring_exact_score_puts_an_expert_on_every_mode_in_at_least_4_of_5_seeds() {
    let task = AnalyticTask::ring();
    let cfg = defaults(&task);
    assert!(
        !cfg.learn_gating && !cfg.full_cov && cfg.experts == 8,
        "the paper's toy: 8 diagonal experts, uniform gating"
    );
    let mut good = 0;
    for seed in 0..5 {
        let r = run(&task, &cfg, seed);
        let std_ok = r.matching.std_ratios.iter().all(|s| (s - 1.0).abs() <= 0.1);
        eprintln!(
            "seed {seed}: covered {}/8, max mean distance {:.4}, std ratios {:?}",
            r.eval.modes_covered, r.matching.max_distance, r.matching.std_ratios
        );
        if r.eval.modes_covered == 8.0 && r.matching.max_distance <= 0.1 && std_ok {
            good += 1;
        }
    }
    assert!(good >= 4, "only {good} of 5 seeds had all 8 modes covered with means within 0.1 and stds within 10 %");
}

#[test]
fn dropping_the_responsibility_term_collapses_the_experts() {
    let task = AnalyticTask::ring();
    let mut cfg = defaults(&task);
    let with = run(&task, &cfg, 3);
    cfg.use_responsibilities = false;
    let without = run(&task, &cfg, 3);
    eprintln!("with log q̃: {:?}\nwithout: {:?}", with.matching, without.matching);
    assert_eq!(with.matching.modes_within_std, 8);
    assert!(
        without.matching.modes_within_std <= 4,
        "{} modes still matched without log q̃",
        without.matching.modes_within_std
    );
    let wide = without.matching.std_ratios.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(wide > 1.5, "collapsed experts should widen over several modes (smallest std ratio {wide})");
    assert!(without.eval.forward_kl.unwrap() > 10.0 * with.eval.forward_kl.unwrap().max(1e-3));
}

#[test]
fn aniso_full_covariance_learned_gating_recovers_weights_and_nll() {
    let task = AnalyticTask::aniso();
    let cfg = defaults(&task);
    assert!(cfg.full_cov && cfg.learn_gating);
    let r = run(&task, &cfg, 0);
    eprintln!("{:?}\nnll {:?} vs entropy {}", r.matching, r.eval.nll, r.eval.target_entropy);
    for (got, want) in r.matching.mode_weights.iter().zip([0.2, 0.4, 0.4]) {
        assert!((got - want).abs() <= 0.05, "mode weights {:?} vs (0.2, 0.4, 0.4)", r.matching.mode_weights);
    }
    let gap = r.eval.nll.unwrap() - r.eval.target_entropy;
    assert!(gap.abs() <= 0.1, "test NLL is {gap:.4} nats from the target entropy");
    assert_eq!(r.eval.modes_covered, 3.0);
}

#[test]
fn kmeans_initialisation_covers_every_mode_where_the_uniform_one_does_not() {
    for file in ["far5", "near3", "rare_far"] {
        let task = tasks::analytic(&format!("gmm:tests/data/{file}.toml")).unwrap();
        let k = task.mixture(&task.test_states(1)).components();
        let cfg = defaults(&task);
        assert_eq!(cfg.mean_init, MeanInitKind::Kmeans);
        for seed in 0..2 {
            let r = run(&task, &cfg, seed);
            eprintln!("{file} seed {seed}: {:?}", r.matching);
            assert_eq!(r.matching.modes_within_std, k, "{file} seed {seed}: not every mode has an expert on it");
            assert_eq!(r.eval.modes_covered, k as f64, "{file} seed {seed}: samples miss a mode");
        }
    }
    // The reference's initialisation (uniform in ±0.5) leaves the far modes uncovered.
    let task = tasks::analytic("gmm:tests/data/far5.toml").unwrap();
    let mut cfg = defaults(&task);
    cfg.mean_init = MeanInitKind::Uniform;
    let r = run(&task, &cfg, 0);
    assert!(r.matching.modes_within_std < 5, "uniform init matched {} of 5 modes", r.matching.modes_within_std);
}

#[test]
fn cond_ring_follows_the_state_at_16_test_states() {
    let task = AnalyticTask::cond_ring();
    let mut cfg = defaults(&task);
    cfg.iters = 2000;
    cfg.lr = 3e-3;
    let r = run(&task, &cfg, 0);
    eprintln!(
        "coverage {} (all at {}/16), forward KL {:?}",
        r.eval.modes_covered, r.eval.states_all_covered, r.eval.forward_kl
    );
    assert!(r.eval.modes_covered >= 7.0, "mean coverage {} over 16 states", r.eval.modes_covered);
    assert!(r.eval.forward_kl.unwrap() < 0.1);
}

/// A student with full covariances and a learned gating on `aniso`, on `dev`.
fn small_student(dev: &Device, task: &AnalyticTask) -> (Student, VddConfig) {
    let mut cfg = defaults(task);
    cfg.experts = 5;
    cfg.batch = 17;
    cfg.samples = 3;
    let mut data = AnalyticData { task, norm: Normalization::identity(2, 2) };
    (v::init_student(&cfg, &mut data, Normalization::identity(2, 2), task.name(), dev, 7).unwrap(), cfg)
}

#[test]
fn gpu_update_gradients_match_the_cpu() {
    let Some(g) = gpu() else { return };
    let task = AnalyticTask::aniso();
    let mut data = AnalyticData { task: &task, norm: Normalization::identity(2, 2) };
    let (obs, acts) = data.batch(17, &mut HostRng::new(1, 2));
    let grads = |dev: &Device| {
        let (s, cfg) = small_student(dev, &task);
        let shape = UpdateShape { batch: cfg.batch, window: 1, samples: cfg.samples };
        let lr = v::expert_update(&s, &obs, shape, &exact(&task), ExpertTerms::of(&cfg), 3, 0, &mut HostRng::new(5, 0))
            .unwrap();
        let ge = s.store.flat_grad().to_vec().unwrap();
        let nll = v::gating_update(&s, &obs, &acts, shape, 3, 0).unwrap();
        let gg = s.store.flat_grad().to_vec().unwrap();
        let wnll = v::warm_start_update(&s, &obs, &acts, shape, false, 3, 0).unwrap();
        let gw = s.store.flat_grad().to_vec().unwrap();
        (lr, ge, nll, gg, wnll, gw)
    };
    let (lg, ge_g, ng, gg_g, wg, gw_g) = grads(&g.dev);
    let (lc, ge_c, nc, gg_c, wc, gw_c) = grads(&Device::Cpu);
    assert!((lg - lc).abs() < 1e-4 && (ng - nc).abs() < 1e-4, "statistics {lg} vs {lc}, {ng} vs {nc}");
    assert!((wg - wc).abs() < 1e-4, "warm-start NLL {wg} vs {wc}");
    assert_close("expert update gradient, gpu vs cpu", &ge_g, &ge_c, 1e-6, 1e-3);
    assert_close("gating update gradient, gpu vs cpu", &gg_g, &gg_c, 1e-6, 1e-3);
    assert_close("warm-start update gradient, gpu vs cpu", &gw_g, &gw_c, 1e-6, 1e-3);
    assert!([&ge_c, &gg_c, &gw_c].iter().all(|g| g.iter().any(|v| *v != 0.0)), "gradients must not be trivially zero");
}

#[test]
fn the_em_warm_start_alone_fits_the_state_dependent_modes_of_cond_ring() {
    // The data here are samples of the target; the warm start fits them by maximum likelihood,
    // so one VDD iteration at a negligible rate leaves a student that already follows the state.
    let task = AnalyticTask::cond_ring();
    let mut cfg = defaults(&task);
    cfg.lr = 1e-9;
    cfg.iters = 1;
    let cold = run(&task, &cfg, 0);
    cfg.warm_start = 1500;
    cfg.warm_start_lr = 3e-3;
    let warm = run(&task, &cfg, 0);
    eprintln!(
        "cold: coverage {} forward KL {:?}; warm: coverage {} (all at {}/16), forward KL {:?}",
        cold.eval.modes_covered,
        cold.eval.forward_kl,
        warm.eval.modes_covered,
        warm.eval.states_all_covered,
        warm.eval.forward_kl
    );
    assert!(warm.eval.modes_covered >= 7.0, "mean coverage {} over 16 states", warm.eval.modes_covered);
    assert!(warm.eval.forward_kl.unwrap() < 0.2, "forward KL {:?}", warm.eval.forward_kl);
    assert!(warm.eval.forward_kl.unwrap() < 0.5 * cold.eval.forward_kl.unwrap(), "the warm start must help");
}

#[test]
fn every_gpu_update_is_one_submission() {
    let Some(g) = gpu() else { return };
    let task = AnalyticTask::aniso();
    let (mut s, mut cfg) = small_student(&g.dev, &task);
    cfg.eval_every = 0;
    let mut count = |s: &mut Student, iters: u64| {
        cfg.iters = iters;
        let mut data = AnalyticData { task: &task, norm: Normalization::identity(2, 2) };
        g.dev.sync().unwrap();
        let before = g.dev.as_gpu().unwrap().stream_stats().submits;
        v::distill(&cfg, s, &mut data, &exact(&task), 0, None, &mut |_| {}, &mut |_, _| Ok(None)).unwrap();
        g.dev.as_gpu().unwrap().stream_stats().submits - before
    };
    count(&mut s, 1); // warm-up: pipeline compilation
    let (two, five) = (count(&mut s, 2), count(&mut s, 5));
    assert_eq!(five - two, 3 * 2, "each iteration (one expert and one gating update) must be two submissions");
}

/// Data that turns to NaN after `good` batches.
struct Poisoned<'a> {
    inner: AnalyticData<'a>,
    good: usize,
}

impl DistillData for Poisoned<'_> {
    fn obs_dim(&self) -> usize {
        self.inner.obs_dim()
    }
    fn act_dim(&self) -> usize {
        self.inner.act_dim()
    }
    fn window(&self) -> usize {
        1
    }
    fn batch(&mut self, b: usize, rng: &mut HostRng) -> (Vec<f64>, Vec<f64>) {
        let (mut s, a) = self.inner.batch(b, rng);
        if self.good == 0 {
            s.iter_mut().for_each(|x| *x = f64::NAN);
        }
        self.good = self.good.saturating_sub(1);
        (s, a)
    }
}

#[test]
fn a_nan_stops_training_naming_the_iteration_and_keeps_the_last_good_checkpoint() {
    let task = AnalyticTask::ring();
    let mut cfg = defaults(&task);
    cfg.eval_every = 1;
    cfg.iters = 50;
    let dir = std::env::temp_dir().join(format!("vdd-nan-{}", std::process::id()));
    let path = dir.join("student.safetensors");
    let norm = Normalization::identity(2, 2);
    let mut data = Poisoned { inner: AnalyticData { task: &task, norm: norm.clone() }, good: 4 };
    // Initialisation draws its own batch first, then iterations 1..=3 are healthy.
    let mut s = v::init_student(&cfg, &mut data, norm, "ring", &Device::Cpu, 0).unwrap();
    let mut evaluate = |s: &Student, _| v::heldout_nll(s, &task, 1, 500, 0).map(Some);
    let err =
        v::distill(&cfg, &mut s, &mut data, &exact(&task), 0, Some(&path), &mut |_| {}, &mut evaluate).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Diverged { step: 4, .. }), "{msg}");
    assert!(msg.contains("last good checkpoint"), "{msg}");
    let kept = Student::load(&path, &Device::Cpu).unwrap();
    let m = kept.mixtures(&task.test_states(1), 1).unwrap();
    assert!(m.means.iter().chain(&m.chols).all(|v| v.is_finite()));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn student_checkpoints_round_trip_and_other_files_are_refused_clearly() {
    let task = AnalyticTask::aniso();
    let (s, cfg) = small_student(&Device::Cpu, &task);
    let dir = std::env::temp_dir().join(format!("vdd-ckpt-{}", std::process::id()));
    let path = dir.join("s.safetensors");
    s.save(&path, serde_json::to_value(&cfg).unwrap(), serde_json::Value::Null, None).unwrap();
    let back = Student::load(&path, &Device::Cpu).unwrap();
    let state = task.test_states(1);
    assert_eq!(back.mixtures(&state, 1).unwrap(), s.mixtures(&state, 1).unwrap());
    // A teacher file is not a student.
    let t =
        Teacher::new(TeacherConfig::for_task(task.name(), TeacherKind::Beso), "aniso", 2, 2, &Device::Cpu, 0).unwrap();
    let tp = dir.join("t.safetensors");
    t.save(&tp, serde_json::Value::Null).unwrap();
    let e = Student::load(&tp, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("teacher-beso") && e.contains("student"), "{e}");
    // Truncated.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = Student::load(&path, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("truncated or corrupt"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_teacher_of_the_wrong_dimensions_is_refused() {
    let task = AnalyticTask::ring();
    let t =
        Teacher::new(TeacherConfig::for_task(task.name(), TeacherKind::Beso), "other", 3, 2, &Device::Cpu, 0).unwrap();
    let e = ScoreSource::teacher(&t, 2, 2, [0.2, 0.5]).err().unwrap().to_string();
    assert!(e.contains("3-d states") && e.contains("2-d states"), "{e}");
}

#[test]
fn uniform_expert_weights_make_the_expert_update_independent_of_the_gating() {
    let task = AnalyticTask::aniso();
    let mut data = AnalyticData { task: &task, norm: Normalization::identity(2, 2) };
    let (obs, _) = data.batch(17, &mut HostRng::new(1, 2));
    let (s, cfg) = small_student(&Device::Cpu, &task);
    let shape = UpdateShape { batch: cfg.batch, window: 1, samples: cfg.samples };
    let grads = |uniform: bool| {
        let terms = ExpertTerms { responsibilities: true, uniform_weights: uniform };
        v::expert_update(&s, &obs, shape, &exact(&task), terms, 3, 0, &mut HostRng::new(5, 0)).unwrap();
        s.store.flat_grad().to_vec().unwrap()
    };
    let (uniform, weighted) = (grads(true), grads(false));
    // Move the gating away from its initialisation.
    let ids = s.net.gating_params(&s.store).expect("aniso learns its gating");
    let (start, end) = s.store.span(&ids).unwrap();
    let mut vals = s.store.flat().to_vec().unwrap();
    vals[start..end].iter_mut().enumerate().for_each(|(i, v)| *v += 0.5 * ((i % 7) as f32 - 3.0));
    s.store.load(&vals).unwrap();
    let (uniform2, weighted2) = (grads(true), grads(false));
    assert_eq!(uniform, uniform2, "with uniform weights the gating must not enter the expert gradient");
    let diff = weighted.iter().zip(&weighted2).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff > 1e-6, "the reference weighting depends on the gating (largest change {diff})");
    assert!(uniform.iter().any(|v| *v != 0.0));
}

#[test]
fn the_shipped_avoiding_reference_config_restores_spec_2_8() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/avoiding_reference.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let base = VddConfig::for_task("avoiding", 0, true);
    let cfg = base.clone().with_toml(&text, path).unwrap();
    assert_eq!((cfg.iters, cfg.cmp_steps, cfg.gating_steps), (40001, 2, 1));
    assert_eq!((cfg.batch, cfg.samples, cfg.experts), (1024, 2, 8));
    assert_eq!((cfg.lr, cfg.gating_lr), (1e-4, 1e-4));
    assert!(!cfg.uniform_expert_weights && cfg.full_cov && cfg.learn_gating);
    assert_eq!(cfg.warm_start, 0, "the reference has no warm start");
    assert_eq!(cfg.head.gain, 0.01);
    assert_eq!((cfg.head.hidden, cfg.head.layers, cfg.head.residual), (512, 1, false));
    assert_eq!(cfg.noise, Some([0.2, 0.5]));
    // Only the run differs from the task default, never the architecture.
    assert_eq!((cfg.gpt, cfg.gating_hidden, cfg.gating_layers), (base.gpt, base.gating_hidden, base.gating_layers));
    assert!(base.uniform_expert_weights && base.iters == 500 && base.batch == 256 && base.warm_start == 3000);
    assert_eq!(base.noise, Some([0.5, 1.0]));
}

#[test]
fn a_misspelled_nested_config_key_is_refused_by_name() {
    let base = VddConfig::for_task("avoiding", 0, true);
    for (text, key) in [("[head]\ngian = 1.0\n", "gian"), ("[gpt]\nlayer = 2\n", "layer")] {
        let err = base.clone().with_toml(text, "c.toml").unwrap_err().to_string();
        assert!(err.contains("c.toml") && err.contains(key), "{err}");
    }
}
