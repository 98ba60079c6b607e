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

/// Panics with the first differing index unless `got == want`.
fn same(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g.to_bits() != w.to_bits()) {
        panic!("{what}: first difference at {i} of {}: got {}, want {}", got.len(), got[i], want[i]);
    }
}

/// Reads `n` vec4s of `src` through its texture mirror into a fresh (poisoned) buffer.
fn through_mirror(gpu: &Gpu, src: &vdd::device::GpuBuffer, n: usize) -> Vec<f32> {
    let dst = gpu.alloc(16 * n as u64).unwrap();
    vdd::kernels::probe::texture_copy(gpu, n, src, &dst).unwrap();
    bytemuck::pod_collect_to_vec(&gpu.read(&dst, 0, 16 * n as u64).unwrap())
}

#[test]
fn texture_mirrors_hold_the_whole_buffer_and_follow_its_writes() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let row = 4 * vdd::device::TEXTURE_ROW as usize; // floats per texture row
                                                     // Under one row, one row exactly, a partial second row, several rows and a partial one.
    for floats in [4, 68, row, row + 64, 3 * row + 1000] {
        let data: Vec<f32> = (0..floats).map(|i| (i as f32) * 0.5 - 7.0).collect();
        let src = gpu.upload(bytemuck::cast_slice(&data)).unwrap();
        assert!(gpu.mirror_fits(&src));
        let got = through_mirror(gpu, &src, floats / 4);
        same(&got, &data, &format!("{floats} floats through the mirror"));

        // Writes recorded between reads (one submission): each read sees the writes before it.
        let d0 = gpu.alloc(4 * floats as u64).unwrap(); // (its poisoning is a transfer)
        let before = gpu.stream_stats();
        vdd::kernels::probe::texture_copy(gpu, floats / 4, &src, &d0).unwrap();
        let after_unchanged = gpu.stream_stats();
        let changed: Vec<f32> = data.iter().map(|v| v + 100.0).collect();
        gpu.write(&src, 0, bytemuck::cast_slice(&changed)).unwrap();
        let d1 = gpu.alloc(4 * floats as u64).unwrap();
        vdd::kernels::probe::texture_copy(gpu, floats / 4, &src, &d1).unwrap();
        // A kernel writing the buffer (binding it read-write) also refreshes the mirror.
        let zeros = gpu.upload(&vec![0u8; 4 * floats]).unwrap();
        vdd::kernels::probe::copy(gpu, floats / 4, &zeros, &src).unwrap();
        let d2 = gpu.alloc(4 * floats as u64).unwrap();
        vdd::kernels::probe::texture_copy(gpu, floats / 4, &src, &d2).unwrap();
        assert_eq!(after_unchanged.submits, before.submits, "mirror reads must not submit");
        assert_eq!(after_unchanged.transfers, before.transfers, "an unchanged buffer's mirror is not copied again");
        let read = |b: &vdd::device::GpuBuffer| -> Vec<f32> {
            bytemuck::pod_collect_to_vec(&gpu.read(b, 0, 4 * floats as u64).unwrap())
        };
        same(&read(&d0), &data, &format!("{floats}: read before the write"));
        same(&read(&d1), &changed, &format!("{floats}: read after the write"));
        same(&read(&d2), &vec![0.0; floats], &format!("{floats}: read after a kernel's write"));
    }
}

#[test]
fn a_mirror_taller_than_the_adapter_allows_is_an_error() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let rows = u64::from(gpu.limits().max_texture_dimension_2d) + 1;
    let bytes = rows * 16 * u64::from(vdd::device::TEXTURE_ROW);
    if bytes > gpu.limits().max_storage_buffer_binding_size.min(gpu.limits().max_buffer_size) {
        eprintln!("every storage buffer of this adapter fits a texture mirror; nothing to check");
        return;
    }
    let src = gpu.alloc(bytes).unwrap();
    let dst = gpu.alloc(16).unwrap();
    assert!(!gpu.mirror_fits(&src) && gpu.mirror_fits(&dst));
    let err = vdd::kernels::probe::texture_copy(gpu, 1, &src, &dst).unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
}

#[test]
fn texture_mirrors_count_in_device_memory_until_their_buffer_drops() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let row_bytes = 16 * u64::from(vdd::device::TEXTURE_ROW);
    let src = gpu.upload(&vec![0u8; (row_bytes + 256) as usize]).unwrap(); // two texture rows
    let dst = gpu.alloc(16).unwrap();
    let before = gpu.memory().live_bytes;
    vdd::kernels::probe::texture_copy(gpu, 1, &src, &dst).unwrap();
    assert_eq!(gpu.memory().live_bytes, before + 2 * row_bytes, "the mirror's two rows");
    vdd::kernels::probe::texture_copy(gpu, 1, &src, &dst).unwrap();
    assert_eq!(gpu.memory().live_bytes, before + 2 * row_bytes, "reused, not allocated again");
    gpu.sync().unwrap();
    let size = src.size();
    drop(src);
    assert_eq!(gpu.memory().live_bytes, before - size, "buffer and mirror freed together");
}

#[test]
fn a_buffer_read_as_a_mirror_and_written_by_the_same_dispatch_is_refused() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let b = gpu.alloc(256).unwrap();
    let err = vdd::kernels::probe::texture_copy(gpu, 4, &b, &b).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}
