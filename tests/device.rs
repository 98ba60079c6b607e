//! The device layer: adapter choice and its errors, the report, buffers, limits, and the
//! command stream (ops record, reads submit).
mod common;

use common::*;
use vdd::device::{Gpu, GpuOptions};
use vdd::tensor::ops;
use vdd::{Device, Error, Tensor};

#[test]
fn unknown_adapter_name_is_a_clear_error() {
    let opts = GpuOptions { adapter_name: Some("no-such-adapter-xyz".into()), ..GpuOptions::default() };
    match Gpu::new(opts) {
        Err(Error::AdapterNotFound { wanted, .. }) => assert_eq!(wanted, "no-such-adapter-xyz"),
        Err(e) => panic!("expected AdapterNotFound, got {e}"),
        Ok(_) => panic!("an adapter matched a name no adapter has"),
    }
}

#[test]
fn invalid_backend_and_power_preference_are_clear_errors() {
    let bad = GpuOptions { backend: Some("warp-drive".into()), ..GpuOptions::default() };
    let r = Gpu::new(bad);
    assert!(matches!(r, Err(Error::BadEnv { var: "WGPU_BACKEND", .. })), "{:?}", r.err());
    let bad = GpuOptions { power_preference: Some("maximum".into()), adapter_name: None, ..GpuOptions::default() };
    match Gpu::new(bad) {
        Err(Error::BadEnv { var: "WGPU_POWER_PREF", .. }) | Err(Error::NoAdapter { .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("invalid power preference accepted"),
    }
}

#[test]
fn required_limits_above_the_adapter_are_refused() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let mut limits = gpu.limits().clone();
    limits.max_compute_workgroup_storage_size = limits.max_compute_workgroup_storage_size.saturating_mul(1024);
    let opts = GpuOptions { required_limits: Some(limits), ..GpuOptions::default() };
    match Gpu::new(opts) {
        Err(Error::LimitExceeded { what, requested, limit }) => {
            assert!(what.contains("workgroup_storage"), "{what}");
            assert!(requested > limit);
        }
        Err(e) => panic!("expected LimitExceeded, got {e}"),
        Ok(_) => panic!("device created above the adapter's limits"),
    }
}

#[test]
fn adapter_report_names_the_adapter_and_its_limits() {
    let Some(g) = gpu() else { return };
    let r = g.dev.as_gpu().unwrap().report();
    assert!(!r.name.is_empty() && !r.backend.is_empty());
    assert!(r.limits.max_storage_buffer_binding_size >= 1 << 20);
    assert!(r.limits.max_compute_invocations_per_workgroup >= 64);
    let text = r.to_string();
    assert!(text.contains("storage binding") && text.contains(&r.name));
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["limits"]["max_compute_workgroup_storage_size"].as_u64().unwrap() > 0);
}

#[test]
fn oversized_buffers_and_dispatches_are_errors_not_panics() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let too_big = gpu.limits().max_storage_buffer_binding_size.min(gpu.limits().max_buffer_size) + 1024;
    assert!(matches!(gpu.alloc(too_big), Err(Error::LimitExceeded { .. })));
    // A tensor whose buffer would exceed the binding limit.
    let n = (too_big / 4) as usize;
    assert!(matches!(Tensor::zeros(&g.dev, &[n]), Err(Error::LimitExceeded { .. })));
}

#[test]
fn fresh_allocations_are_poisoned_in_tests_and_writes_are_ordered() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let b = gpu.alloc(64).unwrap();
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(&gpu.read(&b, 0, 64).unwrap());
    assert!(words.iter().all(|&w| w == SENTINEL), "poison not applied: {words:x?}");
    // write → copy → zero → read, all recorded in order.
    let data: Vec<f32> = (0..16).map(|i| i as f32).collect();
    gpu.write(&b, 0, bytemuck::cast_slice(&data)).unwrap();
    let c = gpu.alloc(64).unwrap();
    gpu.copy(&b, 16, &c, 0, 48).unwrap();
    gpu.zero(&c, 0, 8).unwrap();
    let got: Vec<f32> = bytemuck::pod_collect_to_vec(&gpu.read(&c, 0, 48).unwrap());
    assert_eq!(&got[..2], &[0.0, 0.0]);
    assert_eq!(&got[2..], &data[6..16]);
    assert!(matches!(gpu.write(&b, 2, &[0u8; 4]), Err(Error::InvalidArgument { .. })));
    assert!(matches!(gpu.read(&b, 0, 1024), Err(Error::InvalidArgument { .. })));
}

#[test]
fn ops_record_without_submitting_until_read_back() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let x = Tensor::from_slice(&g.dev, &[1.0, 2.0, 3.0], &[3]).unwrap();
    g.dev.sync().unwrap();
    let before = gpu.stream_stats();
    let mut y = x.clone();
    for _ in 0..10 {
        y = ops::unary(&y, vdd::cpu::elementwise::Unary::Scale(2.0)).unwrap();
    }
    let mid = gpu.stream_stats();
    assert_eq!(mid.submits, before.submits, "ops must not submit");
    assert!(mid.dispatches >= before.dispatches + 10);
    assert_eq!(y.to_vec().unwrap(), vec![1024.0, 2048.0, 3072.0]);
    assert_eq!(gpu.stream_stats().submits, before.submits + 1, "one submission for the read-back");
}

#[test]
fn memory_accounting_tracks_live_and_peak_bytes() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    gpu.reset_peak_memory();
    let base = gpu.memory().live_bytes;
    let a = gpu.alloc(1 << 20).unwrap();
    assert_eq!(gpu.memory().live_bytes, base + (1 << 20));
    drop(a);
    let m = gpu.memory();
    assert_eq!(m.live_bytes, base);
    assert!(m.peak_bytes >= base + (1 << 20));
    let reused_before = m.reused;
    let _b = gpu.alloc(1 << 20).unwrap();
    assert_eq!(gpu.memory().reused, reused_before + 1, "same-size allocation must reuse the freed buffer");
}

#[test]
fn device_names_parse_and_mixing_devices_is_an_error() {
    assert!(matches!(Device::from_name("cpu"), Ok(Device::Cpu)));
    assert!(matches!(Device::from_name("cpu64"), Ok(Device::CpuF64)));
    assert!(Device::from_name("tpu").is_err());
    let a = Tensor::zeros(&Device::Cpu, &[3]).unwrap();
    let b = Tensor::zeros(&Device::CpuF64, &[3]).unwrap();
    let err = ops::binary(&a, &b, vdd::cpu::elementwise::Binary::Add).unwrap_err();
    assert!(matches!(err, Error::DeviceMismatch { .. }), "{err}");
}
