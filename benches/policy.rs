//! Time per action: VDD students against their diffusion teachers, at batch 1 and 1024.
//!
//! - `ring/...`: the toy sizes (residual-MLP teacher, 8-expert student without backbone);
//!   teachers with every sampler at 8 and 32 steps.
//! - `avoiding/...`: the Avoiding-size DiffusionGPT teacher (8 Euler-ancestral steps, its
//!   default) and the minGPT student; the student batch-1 path is `Policy::act` (the embedded,
//!   allocation-free CPU forward).
//!
//! Both run on the CPU device, and on the GPU when an adapter exists. Untrained weights: the
//! cost of a forward pass does not depend on their values.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use vdd::cpu::rng::HostRng;
use vdd::diffusion::{Sampler, Teacher, TeacherConfig, TeacherKind};
use vdd::io::Normalization;
use vdd::moe::{MeanInit, Student, StudentConfig};
use vdd::tasks::AnalyticTask;
use vdd::vdd::{AnalyticData, VddConfig};
use vdd::{Device, Policy};

fn ring(c: &mut Criterion, dev: &Device) {
    let task = AnalyticTask::ring();
    let mut g = c.benchmark_group(format!("ring/{}", dev.kind()));
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    let beso = Teacher::new(TeacherConfig::for_task("ring", TeacherKind::Beso), "ring", 2, 2, dev, 0).unwrap();
    let ddpm = Teacher::new(TeacherConfig::for_task("ring", TeacherKind::Ddpm), "ring", 2, 2, dev, 0).unwrap();
    let cfg = VddConfig::for_task("ring", 8, false);
    let mut data = AnalyticData { task: &task, norm: Normalization::identity(2, 2) };
    let student = vdd::vdd::init_student(&cfg, &mut data, Normalization::identity(2, 2), "ring", dev, 0).unwrap();
    for batch in [1usize, 1024] {
        let states = task.test_states(batch);
        for (t, samplers) in [
            (&beso, &[Sampler::Euler, Sampler::EulerAncestral, Sampler::Ddim, Sampler::Heun][..]),
            (&ddpm, &[Sampler::Ddim][..]),
        ] {
            for &s in samplers {
                for steps in [8usize, 32] {
                    let id = format!("teacher-{:?}-{s:?}-{steps}", t.cfg.kind).to_lowercase();
                    g.bench_function(BenchmarkId::new(id, batch), |b| {
                        b.iter(|| t.sample(&states, 1, Some(s), Some(steps), 1).unwrap())
                    });
                }
            }
        }
        let id = "teacher-ddpm-ddpm-50";
        g.bench_function(BenchmarkId::new(id, batch), |b| {
            b.iter(|| ddpm.sample(&states, 1, Some(Sampler::Ddpm), None, 1).unwrap())
        });
        let mut rng = HostRng::new(0, 0);
        g.bench_function(BenchmarkId::new("student-act", batch), |b| {
            b.iter(|| student.act(&states, 1, false, &mut rng).unwrap())
        });
        if matches!(dev, Device::Cpu) {
            let mut p = Policy::from_student(&student, 0).unwrap();
            let mut out = vec![0.0; batch * 2];
            g.bench_function(BenchmarkId::new("student-policy", batch), |b| {
                b.iter(|| p.act_batch(&states, 1, &mut out).unwrap())
            });
        }
    }
    g.finish();
}

fn avoiding(c: &mut Criterion, dev: &Device) {
    let mut g = c.benchmark_group(format!("avoiding/{}", dev.kind()));
    g.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_millis(500));
    let teacher =
        Teacher::new(TeacherConfig::for_task("avoiding", TeacherKind::Beso), "avoiding", 4, 2, dev, 0).unwrap();
    let student = Student::new(
        StudentConfig::avoiding(),
        Normalization::identity(4, 2),
        &MeanInit::Uniform(1.0),
        "avoiding",
        dev,
        0,
    )
    .unwrap();
    let mut rng = HostRng::new(0, 1);
    for batch in [1usize, 1024] {
        let obs: Vec<f64> = (0..batch * 5 * 4).map(|_| rng.range(-1.0, 1.0)).collect();
        g.bench_function(BenchmarkId::new("teacher-euler-ancestral-8", batch), |b| {
            b.iter(|| teacher.sample_windows(&obs, 5, 1, None, None, 1).unwrap())
        });
        let mut r = HostRng::new(0, 0);
        g.bench_function(BenchmarkId::new("student-act", batch), |b| {
            b.iter(|| student.act(&obs, 5, false, &mut r).unwrap())
        });
        if matches!(dev, Device::Cpu) {
            let mut p = Policy::from_student(&student, 0).unwrap();
            let mut out = vec![0.0; batch * 2];
            g.bench_function(BenchmarkId::new("student-policy", batch), |b| {
                b.iter(|| p.act_batch(&obs, 5, &mut out).unwrap())
            });
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    vdd::cpu::keep_freed_memory();
    let mut devices = vec![Device::Cpu];
    match Device::gpu() {
        Ok(d) => devices.push(d),
        Err(e) => eprintln!("no GPU adapter ({e}); GPU benchmarks skipped"),
    }
    for d in &devices {
        avoiding(c, d);
        ring(c, d);
    }
}

criterion_group!(policy, benches);
criterion_main!(policy);
