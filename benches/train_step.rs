//! One training step (forward + backward + Adam) of the Avoiding-size student network at batch
//! 1024, on the GPU adapter and the CPU device (`cargo bench --bench train_step`). Compare with
//! PyTorch on the same machine: ../shared/anchors/torch_train_anchor.py.

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use vdd::workloads::{Step, StudentStep};
use vdd::Device;

fn bench_device(c: &mut Criterion, dev: &Device) {
    let mut step = StudentStep::new(dev, 1024).expect("building the student");
    for _ in 0..2 {
        step.step().and_then(|l| l.item()).expect("warm-up step");
    }
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(10));
    g.bench_function(format!("student b1024 {}", dev.kind()), |b| {
        b.iter(|| step.step().and_then(|l| l.item()).expect("training step"))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    vdd::cpu::keep_freed_memory();
    match Device::gpu() {
        Ok(dev) => bench_device(c, &dev),
        Err(e) => eprintln!("no GPU adapter ({e}); GPU benchmark skipped"),
    }
    bench_device(c, &Device::Cpu);
}

criterion_group!(train, benches);
criterion_main!(train);
