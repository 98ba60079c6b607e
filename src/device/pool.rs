//! GPU buffers recycled through a size-keyed pool.
//!
//! Ops allocate their outputs from the pool; when the last handle to a buffer drops, the buffer
//! goes back to the free list and the next allocation of the same size reuses it. This is safe
//! while commands are still being recorded because the GPU executes the stream in recording
//! order: any later writer of a recycled buffer runs after every earlier reader. (Host writes,
//! which wgpu would schedule *before* the pending commands, never target recycled buffers: see
//! [`super::Gpu::write`].)

use super::mirror::Mirror;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Buffer sizes are rounded up to this many bytes so similar shapes share buffers.
const GRANULE: u64 = 256;
/// Free buffers beyond this many bytes are released to the driver.
const MAX_FREE_BYTES: u64 = 1 << 30;

/// Device-memory accounting of tensor buffers.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct MemoryStats {
    /// Bytes held by live buffers and their texture mirrors.
    pub live_bytes: u64,
    /// Largest `live_bytes` since the last [`super::Gpu::reset_peak_memory`].
    pub peak_bytes: u64,
    /// Bytes held in the free list.
    pub free_bytes: u64,
    /// Buffers created since start-up.
    pub created: u64,
    /// Allocations served from the free list.
    pub reused: u64,
}

#[derive(Default)]
pub(crate) struct PoolInner {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: MemoryStats,
}

pub(crate) type Pool = Arc<Mutex<PoolInner>>;

/// A storage buffer owned by one tensor (or a kernel's scratch space).
///
/// Its byte size is at least the requested size; the contents of a fresh allocation are
/// undefined unless it came from an upload. Every recorded write (a kernel binding it
/// read-write, a write, copy or clear) is counted, so that a texture mirror
/// ([`super::Access::Texture`]) is copied again only when the buffer has changed.
pub struct GpuBuffer {
    buffer: Option<wgpu::Buffer>,
    size: u64,
    pool: Option<Pool>,
    writes: AtomicU64,
    read_mostly: AtomicBool,
    pub(crate) mirror: Mutex<Option<Mirror>>,
}

impl GpuBuffer {
    /// The wgpu buffer.
    pub fn raw(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("buffer present until drop")
    }

    /// Usable size in bytes (the rounded allocation size).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A process-unique identity for this allocation (for bind-group caching and debugging).
    pub fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// Writes recorded into this buffer so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Marks the buffer as read by many dispatches between writes (a model's parameters):
    /// kernels that can read an operand through its texture mirror then do (see
    /// [`super::Access::Texture`]).
    pub fn set_read_mostly(&self) {
        self.read_mostly.store(true, Ordering::Relaxed);
    }

    /// Whether [`GpuBuffer::set_read_mostly`] was called.
    pub fn read_mostly(&self) -> bool {
        self.read_mostly.load(Ordering::Relaxed)
    }

    /// Accounts the device memory of a new texture mirror of this buffer (freed with it).
    pub(crate) fn account_mirror(&self, bytes: u64) {
        if let Some(Ok(mut p)) = self.pool.as_ref().map(|p| p.lock()) {
            p.stats.live_bytes += bytes;
            p.stats.peak_bytes = p.stats.peak_bytes.max(p.stats.live_bytes);
        }
    }

    /// Counts one recorded write.
    pub(crate) fn touch(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    fn new(buffer: wgpu::Buffer, size: u64, pool: &Pool) -> GpuBuffer {
        GpuBuffer {
            buffer: Some(buffer),
            size,
            pool: Some(pool.clone()),
            writes: AtomicU64::new(0),
            read_mostly: AtomicBool::new(false),
            mirror: Mutex::new(None),
        }
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        let (Some(buffer), Some(pool)) = (self.buffer.take(), self.pool.take()) else {
            return;
        };
        let mirror = self.mirror.get_mut().map_or(0, |m| m.as_ref().map_or(0, Mirror::bytes));
        let Ok(mut p) = pool.lock() else { return };
        p.stats.live_bytes = p.stats.live_bytes.saturating_sub(self.size + mirror);
        if p.stats.free_bytes + self.size <= MAX_FREE_BYTES {
            p.stats.free_bytes += self.size;
            p.free.entry(self.size).or_default().push(buffer);
        }
    }
}

pub(crate) fn rounded(bytes: u64) -> u64 {
    bytes.max(4).div_ceil(GRANULE) * GRANULE
}

/// Takes a free buffer of exactly `size` (already rounded) or creates one with `create`.
pub(crate) fn take(pool: &Pool, size: u64, create: impl FnOnce(u64) -> wgpu::Buffer) -> GpuBuffer {
    let reused = {
        let mut p = pool.lock().expect("pool lock");
        let b = p.free.get_mut(&size).and_then(Vec::pop);
        if b.is_some() {
            p.stats.free_bytes -= size;
            p.stats.reused += 1;
        } else {
            p.stats.created += 1;
        }
        p.stats.live_bytes += size;
        p.stats.peak_bytes = p.stats.peak_bytes.max(p.stats.live_bytes);
        b
    };
    let buffer = reused.unwrap_or_else(|| create(size));
    GpuBuffer::new(buffer, size, pool)
}

/// Accounts a buffer created outside the pool (an upload created mapped); it joins the free list
/// when dropped like any other.
pub(crate) fn adopt(pool: &Pool, buffer: wgpu::Buffer, size: u64) -> GpuBuffer {
    {
        let mut p = pool.lock().expect("pool lock");
        p.stats.created += 1;
        p.stats.live_bytes += size;
        p.stats.peak_bytes = p.stats.peak_bytes.max(p.stats.live_bytes);
    }
    GpuBuffer::new(buffer, size, pool)
}

pub(crate) fn stats(pool: &Pool) -> MemoryStats {
    pool.lock().map(|p| p.stats).unwrap_or_default()
}

pub(crate) fn reset_peak(pool: &Pool) {
    if let Ok(mut p) = pool.lock() {
        p.stats.peak_bytes = p.stats.live_bytes;
    }
}
