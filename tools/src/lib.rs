//! Shared helpers of the vdd tools: opening the GPU, timing, and the FMA-peak probe that
//! `peak` reports and `ksweep` divides by.

use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Instant;
use vdd::device::{Gpu, GpuOptions};
use vdd::kernels::probe;

/// Opens the GPU chosen by the `WGPU_*` environment variables, with a hint on failure.
///
/// # Errors
/// When no adapter is available.
pub fn open_gpu() -> Result<Arc<Gpu>> {
    let gpu = Gpu::new(GpuOptions::default())
        .context("opening the GPU (set WGPU_BACKEND=vulkan and install mesa-vulkan-drivers for lavapipe)")?;
    Ok(Arc::new(gpu))
}

/// Median wall-clock seconds of `reps` runs of `f` (each run must submit and wait).
///
/// # Errors
/// The first error `f` returns.
pub fn median_secs(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Result of the FMA probe.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct FmaPeak {
    /// Best measured GFLOP/s (2 flops per multiply-add).
    pub gflops: f64,
    /// Independent vec4 chains per invocation at the best point.
    pub nacc: u32,
}

/// Measures the adapter's f32 multiply-add peak: sweeps the number of independent vec4
/// chains, calibrates the iteration count to ~`target_secs` per run, and keeps the best median.
///
/// # Errors
/// GPU errors.
pub fn fma_peak(gpu: &Gpu, target_secs: f64) -> Result<FmaPeak> {
    let out = gpu.alloc(4096)?;
    let groups = 256;
    let mut best = FmaPeak { gflops: 0.0, nacc: 0 };
    for nacc in [8, 16, 24, 32, 48, 64] {
        // Compile and calibrate.
        let mut iters = 256u32;
        loop {
            let start = Instant::now();
            probe::fma(gpu, nacc, groups, iters, &out)?;
            gpu.sync()?;
            let dt = start.elapsed().as_secs_f64();
            if dt > target_secs / 4.0 || iters >= 1 << 22 {
                iters = ((f64::from(iters) * target_secs / dt.max(1e-6)) as u32).clamp(16, 1 << 24);
                break;
            }
            iters *= 4;
        }
        let mut flops = 0.0;
        let secs = median_secs(3, || {
            flops = probe::fma(gpu, nacc, groups, iters, &out)?;
            Ok(gpu.sync()?)
        })?;
        let gflops = flops / secs / 1e9;
        if gflops > best.gflops {
            best = FmaPeak { gflops, nacc };
        }
    }
    let sums: Vec<f32> = bytemuck::pod_collect_to_vec(&gpu.read(&out, 0, 4096)?);
    anyhow::ensure!(sums.iter().all(|v| v.is_finite()), "FMA probe produced non-finite sums");
    Ok(best)
}
