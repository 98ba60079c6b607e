//! Diffusion teachers: the fused sampler-step kernel against its CPU twin (every mode, awkward
//! shapes, poisoned outputs), DiffusionGPT gradients against finite differences (f64) and GPU
//! against CPU, schedules, and teachers that learn the ring's modes and score.
mod common;

use common::*;
use vdd::autodiff::Tape;
use vdd::cpu::diffusion::Step;
use vdd::diffusion::{
    cosine_alpha_bars, sigmas, Denoiser, DenoiserConfig, SigmaSchedule, Teacher, TeacherConfig, TeacherKind,
};
use vdd::eval;
use vdd::io::Normalization;
use vdd::nn::{GptConfig, ParamBuilder, ParamStore};
use vdd::tasks::{AnalyticData, AnalyticTask};
use vdd::tensor::ops;
use vdd::{Device, Tensor};

#[test]
fn sampler_step_kernel_matches_cpu_in_every_mode() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(3);
    for &n in &[1usize, 3, 17, 127, 1000] {
        for width in [1usize, 2, 5] {
            let rows = n.div_ceil(width);
            let numel = rows * width;
            let (x, f) = (rng.vec(numel, -2.0, 2.0), rng.vec(numel, -2.0, 2.0));
            let c: [f32; 8] = [0.7, 0.4, 0.9, 0.5, 0.2, 0.6, 0.3, 0.5];
            for kind in [Step::Ve, Step::VeHeun, Step::Vp, Step::VeScore, Step::VpScore] {
                let per_row = matches!(kind, Step::VeScore | Step::VpScore);
                let aux = if per_row { rng.vec(rows, 0.1, 1.0) } else { rng.vec(numel, -1.0, 1.0) };
                let run = |dev: &Device| {
                    let t = |v: &[f32], s: &[usize]| Tensor::from_slice(dev, v, s).unwrap();
                    let a = if per_row { t(&aux, &[rows]) } else { t(&aux, &[rows, width]) };
                    ops::sampler_step(kind, &c, &t(&x, &[rows, width]), &t(&f, &[rows, width]), &a)
                        .unwrap()
                        .to_vec()
                        .unwrap()
                };
                assert_close(&format!("{kind:?} {rows}×{width}"), &run(&g.dev), &run(&Device::Cpu), 1e-5, 1e-5);
            }
        }
    }
}

#[test]
fn schedules_have_their_endpoints_and_order() {
    for s in [SigmaSchedule::Linear, SigmaSchedule::Exponential, SigmaSchedule::Karras] {
        let v = sigmas(s, 8, 0.1, 1.0, 7.0);
        assert_eq!(v.len(), 9);
        assert!((v[0] - 1.0).abs() < 1e-12 && (v[7] - 0.1).abs() < 1e-12 && v[8] == 0.0, "{s:?}: {v:?}");
        assert!(v.windows(2).all(|w| w[0] > w[1]), "{s:?} decreases");
    }
    // D3IL's cosine schedule: √(1 − ᾱ_t) for 8 steps (spec §2.8).
    let want = [0.205, 0.391, 0.562, 0.711, 0.834, 0.925, 0.981, 1.0];
    for (ab, w) in cosine_alpha_bars(8).iter().zip(want) {
        assert!(((1.0 - ab).sqrt() - w).abs() < 2e-3, "√(1−ᾱ) = {} vs {w}", (1.0 - ab).sqrt());
    }
}

fn gpt_denoiser(dev: &Device) -> (ParamStore, Denoiser) {
    let gpt = GptConfig {
        width: 8,
        layers: 2,
        heads: 2,
        max_tokens: 3,
        attn_dropout: 0.1,
        resid_dropout: 0.1,
        embd_dropout: 0.0,
    };
    let mut pb = ParamBuilder::new();
    let net = Denoiser::new(&mut pb, &DenoiserConfig::Gpt { gpt }, 3, 2).unwrap();
    (pb.build(dev, 5).unwrap(), net)
}

fn denoiser_loss(store: &ParamStore, net: &Denoiser, t: usize) -> (f64, Vec<f64>) {
    let dev = store.device();
    let mut rng = Rng::new(8);
    let n = 2;
    let c = |v: Vec<f64>, s: &[usize]| Tensor::from_f64(&dev, &v, s).unwrap();
    let (s, x, f, w) = (
        c(rng.vec64(n * t * 3, -1.0, 1.0), &[n, t, 3]),
        c(rng.vec64(n * t * 2, -1.0, 1.0), &[n, t, 2]),
        c(rng.vec64(n, -1.0, 1.0), &[n, 1]),
        rng.vec64(n * t * 2, -1.0, 1.0),
    );
    let tape = Tape::new(store, true, 4);
    let out = net.forward(&tape, &tape.constant(s), &tape.constant(x), &tape.constant(f)).unwrap();
    let loss = tape.mse(&out, &tape.constant(c(w, &[n, t, 2]))).unwrap();
    let v = loss.value().item().unwrap();
    tape.backward(&loss).unwrap();
    (v, store.flat_grad().to_vec64().unwrap())
}

#[test]
fn diffusion_gpt_gradients_match_finite_differences() {
    for t in [1usize, 3] {
        let (store, net) = gpt_denoiser(&Device::CpuF64);
        let (_, grads) = denoiser_loss(&store, &net, t);
        let p0 = store.values().unwrap();
        let f = |p: &[f64]| {
            store.flat().write_f64(p).unwrap();
            denoiser_loss(&store, &net, t).0
        };
        let num = numeric_grad(&f, &p0, 1e-6);
        assert_close64(&format!("DiffusionGPT t={t} gradients vs finite differences"), &grads, &num, 1e-6, 1e-5);
        assert!(grads.iter().filter(|g| g.abs() > 1e-4).count() > p0.len() / 3, "most parameters get gradients");
    }
}

#[test]
fn diffusion_gpt_gpu_gradients_match_cpu() {
    let Some(g) = gpu() else { return };
    let (s64, n64) = gpt_denoiser(&Device::CpuF64);
    let (sg, ng) = gpt_denoiser(&g.dev);
    let ((l64, g64), (lg, gg)) = (denoiser_loss(&s64, &n64, 3), denoiser_loss(&sg, &ng, 3));
    let norm = g64.iter().map(|v| v * v).sum::<f64>().sqrt();
    let err = g64.iter().zip(&gg).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    assert!((l64 - lg).abs() <= 1e-5 * l64.abs().max(1e-3), "loss {lg} on GPU vs {l64}");
    assert!(err / norm <= 1e-4, "GPU gradient relative error {:.2e}", err / norm);
}

/// Trains a small teacher on `ring` briefly and checks its samples and score (an untrained
/// network has a relative score error ≈ 1; the full runs of the README reach ≤ 0.15).
fn learns_the_ring(kind: TeacherKind, steps: u64, max_err: f64) {
    let task = AnalyticTask::ring();
    let mut cfg = TeacherConfig::for_task("ring", kind);
    cfg.steps = steps;
    cfg.batch = 512;
    let norm = Normalization::identity(2, 2);
    let mut data = AnalyticData { task: &task, norm: norm.clone() };
    let t = Teacher::train(cfg, "ring", &mut data, norm, &Device::Cpu, 0, |_| {}).unwrap();
    let r = eval::evaluate(&t.policy(None, None), &task, 1, 2000, 1).unwrap();
    let e = eval::teacher_score_error(&t, &task, &[0.5], 2000, 2).unwrap();
    eprintln!(
        "{kind:?}: modes {}, entropy {:.3}, score error at σ≈0.5 {:.3}",
        r.modes_covered, r.mode_entropy, e[0].rel_l2
    );
    assert_eq!(r.modes_covered, 8.0, "{kind:?} teacher misses modes");
    assert!(r.mode_entropy >= 0.95, "{kind:?}: mode entropy {}", r.mode_entropy);
    assert!(e[0].rel_l2 <= max_err, "{kind:?}: score error {} at σ≈0.5", e[0].rel_l2);
}

#[test]
fn a_beso_teacher_learns_the_ring() {
    learns_the_ring(TeacherKind::Beso, 2500, 0.25);
}

#[test]
fn a_ddpm_teacher_learns_the_ring() {
    learns_the_ring(TeacherKind::Ddpm, 2500, 0.3);
}
