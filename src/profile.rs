//! Wall-clock profiling of CPU-device ops and CPU tensor memory accounting (the GPU side uses
//! timestamp queries: [`crate::device::Gpu::start_profiling`]).
//!
//! Every CPU op runs inside a [`CpuScope`] named after its implementation function; while
//! profiling is on for the thread, scopes record their start and duration.

use crate::device::{KernelTiming, MemoryStats};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

thread_local! {
    static RECORDS: RefCell<Option<(Instant, Vec<KernelTiming>)>> = const { RefCell::new(None) };
}

/// Times one CPU op while profiling is on (a no-op otherwise).
pub struct CpuScope {
    label: &'static str,
    start: Option<Instant>,
}

/// Opens a scope for the op `label`.
pub fn cpu_scope(label: &'static str) -> CpuScope {
    let on = RECORDS.with(|r| r.borrow().is_some());
    CpuScope { label, start: on.then(Instant::now) }
}

impl Drop for CpuScope {
    fn drop(&mut self) {
        let Some(start) = self.start else { return };
        let end = Instant::now();
        RECORDS.with(|r| {
            if let Some((origin, v)) = r.borrow_mut().as_mut() {
                let ns = |t: Instant| t.duration_since(*origin).as_nanos() as f64;
                v.push(KernelTiming {
                    label: self.label.to_string(),
                    variant: String::new(),
                    start_ns: ns(start),
                    end_ns: ns(end),
                    flops: 0.0,
                    bytes: 0.0,
                });
            }
        });
    }
}

/// Starts recording CPU op timings on this thread.
pub fn start_cpu_profiling() {
    RECORDS.with(|r| *r.borrow_mut() = Some((Instant::now(), Vec::new())));
}

/// Stops recording and returns the timings since [`start_cpu_profiling`].
pub fn stop_cpu_profiling() -> Vec<KernelTiming> {
    RECORDS.with(|r| r.borrow_mut().take().map(|(_, v)| v).unwrap_or_default())
}

static CPU_LIVE: AtomicU64 = AtomicU64::new(0);
static CPU_PEAK: AtomicU64 = AtomicU64::new(0);

pub(crate) fn cpu_alloc(bytes: u64) {
    let live = CPU_LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    CPU_PEAK.fetch_max(live, Ordering::Relaxed);
}

pub(crate) fn cpu_free(bytes: u64) {
    CPU_LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

/// Bytes held by CPU tensors (live and peak since [`reset_cpu_peak`]).
pub fn cpu_memory() -> MemoryStats {
    MemoryStats {
        live_bytes: CPU_LIVE.load(Ordering::Relaxed),
        peak_bytes: CPU_PEAK.load(Ordering::Relaxed),
        ..MemoryStats::default()
    }
}

/// Starts a new CPU peak measurement from the current live bytes.
pub fn reset_cpu_peak() {
    CPU_PEAK.store(CPU_LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}
