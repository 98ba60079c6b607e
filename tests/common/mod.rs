//! Shared test helpers: the serialized GPU device, deterministic data, comparisons with
//! error reports, and finite-difference gradient checks.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard, OnceLock};
use vdd::device::{Gpu, GpuOptions};
use vdd::{Device, Tensor};

/// Bits of the NaN that poisons every fresh GPU allocation in tests.
pub const SENTINEL: u32 = 0x7fc0_dead;

static DEVICE: OnceLock<Option<Device>> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

/// The test binary's GPU, held exclusively for the caller's scope (GPU tests run serially).
pub struct GpuGuard {
    pub dev: Device,
    _lock: MutexGuard<'static, ()>,
}

/// The shared GPU device, with allocations poisoned by [`SENTINEL`]. Returns `None` (after a
/// loud message) when no adapter exists — unless `CI` is set, where that is a failure.
pub fn gpu() -> Option<GpuGuard> {
    let lock = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dev = DEVICE.get_or_init(|| match Gpu::new(GpuOptions::default()) {
        Ok(g) => {
            eprintln!("GPU tests on: {} ({:?})", g.info().name, g.info().backend);
            g.set_poison(Some(SENTINEL));
            Some(Device::Gpu(std::sync::Arc::new(g)))
        }
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI is set but no GPU adapter is available: {e}");
            }
            eprintln!("\n!!!! SKIPPING GPU TESTS: no adapter ({e}) !!!!\n");
            None
        }
    });
    dev.clone().map(|dev| GpuGuard { dev, _lock: lock })
}

/// SplitMix64: deterministic test data without a rand dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi) as f32).collect()
    }
    pub fn vec64(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Asserts `|got − want| ≤ atol + rtol·|want|` elementwise; on failure reports the count of
/// bad elements, max abs and rel error, and the worst index with its values.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f64, rtol: f64) {
    let g: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
    let w: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
    assert_close64(what, &g, &w, atol, rtol);
}

/// f64 version of [`assert_close`].
pub fn assert_close64(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs {}", got.len(), want.len());
    let (mut max_abs, mut max_rel, mut worst, mut worst_excess, mut bad) =
        (0f64, 0f64, 0usize, f64::NEG_INFINITY, 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let excess = if err.is_nan() { f64::INFINITY } else { err - (atol + rtol * w.abs()) };
        if excess > 0.0 {
            bad += 1;
        }
        if excess > worst_excess {
            worst_excess = excess;
            worst = i;
        }
        if !err.is_nan() {
            max_abs = max_abs.max(err);
            max_rel = max_rel.max(err / w.abs().max(1e-30));
        }
    }
    assert!(
        bad == 0,
        "{what}: {bad}/{} elements out of tolerance (atol {atol:e}, rtol {rtol:e}); max abs err {max_abs:.3e}, max rel err {max_rel:.3e}; worst index {worst}: got {} want {}",
        got.len(),
        got[worst],
        want[worst]
    );
}

/// Central finite differences of a scalar function at `x`.
pub fn numeric_grad(f: &dyn Fn(&[f64]) -> f64, x: &[f64], eps: f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = xp[i];
            xp[i] = orig + eps;
            let fp = f(&xp);
            xp[i] = orig - eps;
            let fm = f(&xp);
            xp[i] = orig;
            (fp - fm) / (2.0 * eps)
        })
        .collect()
}

/// Checks an analytic gradient against central differences (f64).
pub fn check_grad(what: &str, f: &dyn Fn(&[f64]) -> f64, x: &[f64], analytic: &[f64], tol: f64) {
    let num = numeric_grad(f, x, 1e-6);
    assert_close64(&format!("{what} (analytic vs finite differences)"), analytic, &num, tol, tol);
}

/// Shapes that are not multiples of tile or vector widths, plus a few that are.
pub const AWKWARD: &[usize] = &[1, 3, 17, 33, 127, 256, 1000];

/// A tensor of f64 values on the f64 CPU device (finite-difference checks).
pub fn t64(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64(&Device::CpuF64, v, shape).unwrap()
}
