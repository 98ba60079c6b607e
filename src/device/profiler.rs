//! GPU kernel timing with timestamp queries.
//!
//! While profiling, every dispatch is bracketed by two timestamps: written inside the open
//! compute pass when the adapter has `TIMESTAMP_QUERY_INSIDE_PASSES`, else as the begin/end
//! writes of a compute pass of its own. Query sets are resolved and copied to read-back buffers
//! at each submit; [`super::Gpu::stop_profiling`] maps them and returns one record per dispatch.

use serde::Serialize;

/// Queries per query set (wgpu's maximum).
const SET_SIZE: u32 = 4096;

/// One timed dispatch.
#[derive(Clone, Debug, Serialize)]
pub struct KernelTiming {
    /// Kernel name (`family/file.wgsl`).
    pub label: String,
    /// The variant: the kernel's defines and overrides and the workgroup grid (e.g.
    /// `TM=32,TN4=2,TRANS_A=1,…|WG=64,|grid 3x80x1`); empty for CPU ops.
    pub variant: String,
    /// Start, nanoseconds on the adapter's clock.
    pub start_ns: f64,
    /// End, nanoseconds.
    pub end_ns: f64,
    /// Estimated floating-point operations.
    pub flops: f64,
    /// Estimated bytes moved.
    pub bytes: f64,
}

impl KernelTiming {
    /// Duration in nanoseconds.
    pub fn ns(&self) -> f64 {
        (self.end_ns - self.start_ns).max(0.0)
    }
}

struct Pending {
    readback: wgpu::Buffer,
    /// One timing per dispatch, its times filled in by [`Profiler::collect`].
    records: Vec<KernelTiming>,
}

/// Where the next dispatch's timestamps go.
pub(crate) struct Slot {
    pub set: wgpu::QuerySet,
    pub begin: u32,
    pub end: u32,
}

pub(crate) struct Profiler {
    pub inside_passes: bool,
    sets: Vec<wgpu::QuerySet>,
    used: u32,
    records: Vec<KernelTiming>,
    pending: Vec<Pending>,
    period_ns: f64,
}

impl Profiler {
    pub(crate) fn new(inside_passes: bool, period_ns: f32) -> Self {
        Profiler {
            inside_passes,
            sets: Vec::new(),
            used: 0,
            records: Vec::new(),
            pending: Vec::new(),
            period_ns: f64::from(period_ns),
        }
    }

    /// Reserves two queries for a dispatch described by `timing` (its times are filled in when
    /// the queries are read back).
    pub(crate) fn reserve(&mut self, device: &wgpu::Device, timing: KernelTiming) -> Slot {
        let set_index = (self.used / SET_SIZE) as usize;
        if set_index == self.sets.len() {
            self.sets.push(device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("vdd profiler"),
                ty: wgpu::QueryType::Timestamp,
                count: SET_SIZE,
            }));
        }
        let local = self.used % SET_SIZE;
        self.used += 2;
        self.records.push(timing);
        Slot { set: self.sets[set_index].clone(), begin: local, end: local + 1 }
    }

    /// Resolves this submission's queries into a read-back buffer (called before finishing the
    /// encoder).
    pub(crate) fn resolve(&mut self, device: &wgpu::Device, encoder: &mut wgpu::CommandEncoder) {
        if self.used == 0 {
            return;
        }
        let bytes = u64::from(self.used) * 8;
        let resolve = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vdd profiler resolve"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vdd profiler readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut left = self.used;
        for (i, set) in self.sets.iter().enumerate() {
            let n = left.min(SET_SIZE);
            if n == 0 {
                break;
            }
            encoder.resolve_query_set(set, 0..n, &resolve, u64::from(i as u32 * SET_SIZE) * 8);
            left -= n;
        }
        encoder.copy_buffer_to_buffer(&resolve, 0, &readback, 0, bytes);
        self.pending.push(Pending { readback, records: std::mem::take(&mut self.records) });
        self.used = 0;
    }

    /// Maps every resolved submission (the caller has waited for the queue) into timings.
    pub(crate) fn collect(self, device: &wgpu::Device) -> Result<Vec<KernelTiming>, String> {
        let mut out = Vec::new();
        for p in self.pending {
            let (tx, rx) = std::sync::mpsc::channel();
            p.readback.slice(..).map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
            device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| e.to_string())?;
            rx.recv().map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
            let ticks: Vec<u64> =
                bytemuck::pod_collect_to_vec(&p.readback.slice(..).get_mapped_range().map_err(|e| e.to_string())?);
            for (i, mut t) in p.records.into_iter().enumerate() {
                let (b, e) = (ticks[2 * i], ticks[2 * i + 1]);
                t.start_ns = b as f64 * self.period_ns;
                t.end_ns = e.wrapping_sub(b) as f64 * self.period_ns + t.start_ns;
                out.push(t);
            }
        }
        Ok(out)
    }
}
