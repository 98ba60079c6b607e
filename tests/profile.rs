//! Profiler plumbing: one timing per dispatch with sane timestamps, labels and costs on the
//! GPU; per-op wall-clock records on the CPU; peak-memory accounting.
mod common;

use common::*;
use vdd::cpu::elementwise::Unary;
use vdd::tensor::ops;
use vdd::{profile, Device, Tensor};

#[test]
fn gpu_profiler_times_every_dispatch() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let x = Tensor::from_slice(&g.dev, &Rng::new(1).vec(64 * 72, -1.0, 1.0), &[64, 72]).unwrap();
    let w = Tensor::from_slice(&g.dev, &Rng::new(2).vec(72 * 72, -1.0, 1.0), &[72, 72]).unwrap();
    g.dev.sync().unwrap();
    let before = gpu.stream_stats().dispatches;
    gpu.start_profiling().unwrap();
    let y = ops::linear(&x, &w, None).unwrap();
    let y = ops::unary(&y, Unary::Gelu).unwrap();
    let _s = ops::sum_leading(&y).unwrap();
    let timings = gpu.stop_profiling().unwrap();
    let dispatched = (gpu.stream_stats().dispatches - before) as usize;
    assert_eq!(timings.len(), dispatched, "one timing per dispatch");
    assert!(timings.len() >= 3);
    for t in &timings {
        assert!(!t.label.is_empty() && t.label.ends_with(":main"), "label {:?}", t.label);
        assert!(t.end_ns >= t.start_ns && t.start_ns > 0.0, "{t:?}");
        assert!(t.bytes > 0.0, "{t:?} has no cost estimate");
        assert!(t.variant.contains("|grid "), "variant {:?} lacks the grid", t.variant);
    }
    assert!(timings.windows(2).all(|w| w[1].start_ns >= w[0].start_ns), "timings out of recording order");
    let gemm = timings.iter().find(|t| t.label.starts_with("matmul/")).expect("a GEMM dispatch");
    assert_eq!(gemm.flops, 2.0 * 64.0 * 72.0 * 72.0);
    // x·w, or its transposed form (Cᵀ = wᵀ·xᵀ with both operands read transposed).
    let v = &gemm.variant;
    let plain = !v.contains("TRANS_C=1,") && v.contains("TRANS_A=0,") && v.contains("TRANS_B=0,");
    let transposed = v.contains("TRANS_C=1,") && v.contains("TRANS_A=1,") && v.contains("TRANS_B=1,");
    assert!(plain || transposed, "gemm variant {v:?}");
    // Stopping twice is an error, not a panic.
    assert!(gpu.stop_profiling().is_err());
}

#[test]
fn cpu_profiler_records_each_op_and_memory_peaks() {
    let x = Tensor::from_slice(&Device::Cpu, &vec![0.5; 1000], &[10, 100]).unwrap();
    profile::reset_cpu_peak();
    let base = profile::cpu_memory().live_bytes;
    profile::start_cpu_profiling();
    let y = ops::unary(&x, Unary::Exp).unwrap();
    let z = ops::sum_leading(&y).unwrap();
    let recs = profile::stop_cpu_profiling();
    assert_eq!(recs.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), vec!["unary_cpu", "sum_leading_cpu"]);
    assert!(recs.iter().all(|r| r.end_ns >= r.start_ns));
    assert!(profile::cpu_memory().peak_bytes >= base + 4000 + 400);
    drop((y, z));
    assert!(profile::stop_cpu_profiling().is_empty(), "profiling must be off after stop");
}
