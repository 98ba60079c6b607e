//! The embedded policy: the allocation-free CPU forward against the tape's, the observation
//! window, and no allocation per `act` after warm-up (counted by a global allocator).
mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use vdd::cpu::rng::HostRng;
use vdd::io::Normalization;
use vdd::moe::{Activation, FastStudent, HeadConfig, MeanInit, Student, StudentConfig};
use vdd::{Device, Policy};

struct Counting;
thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}
// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static A: Counting = Counting;

fn allocations() -> usize {
    ALLOCS.with(Cell::get)
}

/// A student with every parameter random (so no part of the forward is trivially zero).
fn random_student(cfg: StudentConfig, seed: u64) -> Student {
    let (sd, ad) = (cfg.obs_dim, cfg.act_dim);
    let norm = Normalization {
        state_mean: (0..sd).map(|i| 0.1 * i as f64).collect(),
        state_std: (0..sd).map(|i| 0.5 + 0.1 * i as f64).collect(),
        action_mean: (0..ad).map(|i| -0.2 * i as f64).collect(),
        action_std: (0..ad).map(|i| 0.3 + 0.2 * i as f64).collect(),
    };
    let s = Student::new(cfg, norm, &MeanInit::Uniform(1.0), "test", &Device::Cpu, seed).unwrap();
    let mut rng = Rng::new(seed);
    s.store.load(&rng.vec(s.store.numel(), -0.15, 0.15)).unwrap();
    s
}

fn toy() -> StudentConfig {
    StudentConfig {
        obs_dim: 2,
        act_dim: 3,
        experts: 5,
        window: 1,
        gpt: None,
        feature: 512,
        mean: HeadConfig { hidden: 33, layers: 2, residual: true, act: Activation::Mish, gain: 0.01 },
        cov: HeadConfig { hidden: 17, layers: 3, residual: false, act: Activation::Silu, gain: 0.01 },
        full_cov: true,
        gating: Some((16, 2)),
        init_std: 1.0,
        min_std: 1e-4,
    }
}

fn avoiding() -> StudentConfig {
    let mut c = StudentConfig::avoiding();
    c.mean.act = Activation::Mish;
    c.cov.act = Activation::Mish;
    c
}

#[test]
fn fast_forward_matches_the_tape_on_the_avoiding_student_and_a_toy() {
    for (name, cfg) in [("avoiding", avoiding()), ("toy", toy())] {
        let s = random_student(cfg.clone(), 3);
        let mut fast = FastStudent::new(&s).unwrap();
        let mut rng = Rng::new(9);
        for t in 1..=cfg.window {
            let obs = rng.vec64(3 * t * cfg.obs_dim, -1.0, 1.0);
            let (want, got) = (s.mixtures(&obs, t).unwrap(), fast.mixtures(&obs, t).unwrap());
            assert_close64(&format!("{name} t={t} weights"), &got.weights, &want.weights, 1e-5, 1e-4);
            assert_close64(&format!("{name} t={t} means"), &got.means, &want.means, 1e-5, 1e-4);
            assert_close64(&format!("{name} t={t} chols"), &got.chols, &want.chols, 1e-5, 1e-4);
            // Greedy actions are the most probable expert's mean, from the fast forward and
            // from the tape's acting path (last position only, no Cholesky head).
            let mut out = vec![0.0; 3 * cfg.act_dim];
            fast.act_into(&obs, t, true, &mut HostRng::new(0, 0), &mut out).unwrap();
            greedy_actions_match(
                &format!("{name} t={t} tape"),
                &s.act(&obs, t, true, &mut HostRng::new(0, 0)).unwrap(),
                &want,
                &cfg,
            );
            greedy_actions_match(&format!("{name} t={t} fast"), &out, &want, &cfg);
        }
    }
}

/// `got` is, row by row, the mean of the most probable expert of `want`.
fn greedy_actions_match(what: &str, got: &[f64], want: &vdd::moe::Mixtures, cfg: &StudentConfig) {
    let (z, d) = (cfg.experts, cfg.act_dim);
    assert_eq!(got.len(), want.n * d, "{what}: action count");
    for r in 0..want.n {
        let w = &want.weights[r * z..][..z];
        let k = (0..z).max_by(|&a, &b| w[a].total_cmp(&w[b])).unwrap();
        assert_close64(
            &format!("{what} greedy action {r}"),
            &got[r * d..][..d],
            &want.means[(r * z + k) * d..][..d],
            1e-5,
            1e-4,
        );
    }
}

#[test]
fn the_gpu_acting_path_matches_the_cpu_mixture() {
    let Some(g) = gpu() else { return };
    let cfg = avoiding();
    let cpu = random_student(cfg.clone(), 4);
    let dev = Student::new(cfg.clone(), cpu.norm.clone(), &MeanInit::Uniform(1.0), "test", &g.dev, 4).unwrap();
    dev.store.load(&cpu.store.flat().to_vec().unwrap()).unwrap();
    let mut rng = Rng::new(2);
    for (n, t) in [(1, 5), (3, 2), (17, 5)] {
        let obs = rng.vec64(n * t * cfg.obs_dim, -1.0, 1.0);
        let want = cpu.mixtures(&obs, t).unwrap();
        greedy_actions_match(
            &format!("GPU n={n} t={t}"),
            &dev.act(&obs, t, true, &mut HostRng::new(0, 0)).unwrap(),
            &want,
            &cfg,
        );
    }
}

#[test]
fn sampled_actions_follow_the_gating() {
    let s = random_student(toy(), 5);
    let mut fast = FastStudent::new(&s).unwrap();
    let obs = [0.3, -0.2];
    let m = s.mixtures(&obs, 1).unwrap();
    let mut rng = HostRng::new(1, 2);
    let mut counts = [0usize; 5];
    let mut out = [0.0; 3];
    for _ in 0..20_000 {
        fast.act_into(&obs, 1, false, &mut rng, &mut out).unwrap();
        let k = (0..5).find(|&k| (out[0] - m.means[k * 3]).abs() < 1e-4).expect("an expert's mean");
        counts[k] += 1;
    }
    for k in 0..5 {
        let f = counts[k] as f64 / 20_000.0;
        assert!((f - m.weights[k]).abs() < 0.015, "expert {k}: chosen {f}, gating {}", m.weights[k]);
    }
}

#[test]
fn the_policy_keeps_its_window_and_does_not_allocate_per_call() {
    let s = random_student(avoiding(), 7);
    let mut p = Policy::from_student(&s, 0).unwrap();
    p.set_greedy(true);
    let mut rng = Rng::new(4);
    let stream: Vec<Vec<f64>> = (0..9).map(|_| rng.vec64(4, -1.0, 1.0)).collect();
    let mut last = Vec::new();
    for (i, o) in stream.iter().enumerate() {
        let a = p.act(o).unwrap().to_vec();
        // The same as acting on the explicit window of the last ≤ 5 observations.
        let t = (i + 1).min(5);
        let window: Vec<f64> = stream[i + 1 - t..=i].concat();
        let mut want = [0.0; 2];
        p.act_batch(&window, t, &mut want).unwrap();
        assert_close64("act vs explicit window", &a, &want, 1e-12, 0.0);
        last = a;
    }
    p.reset();
    let first = p.act(&stream[8]).unwrap().to_vec();
    let mut want = [0.0; 2];
    p.act_batch(&stream[8], 1, &mut want).unwrap();
    assert_eq!(first, want.to_vec(), "reset empties the window");
    assert_ne!(first, last);
    // Warm, then count.
    p.reset();
    for o in &stream {
        p.act(o).unwrap();
    }
    let before = allocations();
    for o in stream.iter().cycle().take(200) {
        p.act(o).unwrap();
    }
    assert_eq!(allocations() - before, 0, "Policy::act allocated after warm-up");
}

#[test]
fn bad_observations_are_refused() {
    let s = random_student(toy(), 1);
    let mut p = Policy::from_student(&s, 0).unwrap();
    assert!(p.act(&[1.0]).unwrap_err().to_string().contains("2"));
    assert!(p.act(&[f64::NAN, 0.0]).unwrap_err().to_string().contains("non-finite"));
}
