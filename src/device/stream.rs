//! The command stream ops record into: one encoder, one open compute pass, and a uniform arena.
//!
//! Dispatches go into the open compute pass; copies and clears close it first. Nothing reaches
//! the queue until [`super::Gpu::flush`], [`super::Gpu::sync`] or a read-back, so a whole training
//! step is one submission. Uniform params of every dispatch are packed into arena chunks (one
//! slot per dispatch, aligned to the adapter's uniform offset alignment) that are written to the
//! GPU with one `write_buffer` per chunk just before the submit.

use super::mirror;
use super::pipeline::{Access, Pipeline};
use super::pool::GpuBuffer;
use super::profiler::{KernelTiming, Profiler};
use serde::Serialize;
use std::num::NonZeroU64;

const CHUNK_BYTES: u64 = 256 * 1024;

/// A storage binding of a dispatch.
pub type Binding<'a> = &'a GpuBuffer;

/// One kernel launch.
pub struct Dispatch<'a> {
    /// The compiled kernel.
    pub pipeline: &'a Pipeline,
    /// Storage buffers, in binding order.
    pub buffers: &'a [Binding<'a>],
    /// The uniform params (bytes of a `#[repr(C)]` Pod struct), or empty if the kernel has none.
    pub params: &'a [u8],
    /// Workgroup counts.
    pub workgroups: [u32; 3],
    /// Estimated floating-point operations (for the profiler).
    pub flops: f64,
    /// Estimated bytes moved (for the profiler).
    pub bytes: f64,
}

/// Counters of the stream since the device was created.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StreamStats {
    /// Queue submissions.
    pub submits: u64,
    /// Kernel dispatches recorded.
    pub dispatches: u64,
    /// Buffer copies and clears recorded.
    pub transfers: u64,
}

struct Chunk {
    buffer: wgpu::Buffer,
    data: Vec<u8>,
}

pub(crate) struct Stream {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    chunks: Vec<Chunk>,
    current: usize,
    slot: u64,
    pub(crate) stats: StreamStats,
    pub(crate) profiler: Option<Profiler>,
}

impl Stream {
    pub(crate) fn new(uniform_alignment: u32) -> Self {
        Stream {
            encoder: None,
            pass: None,
            chunks: Vec::new(),
            current: 0,
            slot: u64::from(uniform_alignment.max(16)),
            stats: StreamStats::default(),
            profiler: None,
        }
    }

    fn encoder_mut(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("vdd stream") })
        })
    }

    /// The encoder, with any open compute pass closed (for copies and clears).
    pub(crate) fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.pass = None;
        self.stats.transfers += 1;
        self.encoder_mut(device)
    }

    fn pass(&mut self, device: &wgpu::Device) -> &mut wgpu::ComputePass<'static> {
        if self.pass.is_none() {
            let pass = self
                .encoder_mut(device)
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("vdd pass"), timestamp_writes: None })
                .forget_lifetime();
            self.pass = Some(pass);
        }
        self.pass.as_mut().expect("pass just opened")
    }

    /// Copies `params` into the arena; returns the chunk buffer and the offset of its slot.
    fn push_params(&mut self, device: &wgpu::Device, params: &[u8]) -> (wgpu::Buffer, u64) {
        let need = (params.len() as u64).div_ceil(self.slot) * self.slot;
        loop {
            if self.current == self.chunks.len() {
                let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("vdd uniform arena"),
                    size: CHUNK_BYTES.max(need),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.chunks.push(Chunk { buffer, data: Vec::with_capacity(CHUNK_BYTES as usize) });
            }
            let chunk = &mut self.chunks[self.current];
            let offset = chunk.data.len() as u64;
            if offset + need <= chunk.buffer.size() {
                chunk.data.extend_from_slice(params);
                chunk.data.resize((offset + need) as usize, 0);
                return (chunk.buffer.clone(), offset);
            }
            self.current += 1;
        }
    }

    /// Records one dispatch. The caller has validated workgroup counts and binding count.
    /// Texture bindings get their buffer's mirror, refreshed first by a recorded copy if the
    /// buffer was written since its last copy; read-write bindings count as writes.
    pub(crate) fn dispatch(&mut self, device: &wgpu::Device, d: &Dispatch) {
        // (binding, mirror) of the texture bindings only: no allocation for the usual dispatch.
        let views: Vec<(usize, wgpu::TextureView)> = d
            .buffers
            .iter()
            .zip(&d.pipeline.access)
            .enumerate()
            .filter(|(_, (_, a))| **a == Access::Texture)
            .map(|(i, (b, _))| (i, mirror::view(device, b, || self.encoder(device))))
            .collect();
        let mut entries: Vec<wgpu::BindGroupEntry> = d
            .buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: match views.iter().find(|(j, _)| *j == i) {
                    Some((_, v)) => wgpu::BindingResource::TextureView(v),
                    None => b.raw().as_entire_binding(),
                },
            })
            .collect();
        for (b, a) in d.buffers.iter().zip(&d.pipeline.access) {
            if *a == Access::ReadWrite {
                b.touch();
            }
        }
        let uniform = if d.pipeline.has_params { Some(self.push_params(device, d.params)) } else { None };
        if let Some((buffer, offset)) = &uniform {
            entries.push(wgpu::BindGroupEntry {
                binding: d.buffers.len() as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset: *offset,
                    size: NonZeroU64::new((d.params.len() as u64).div_ceil(16) * 16),
                }),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &d.pipeline.layout,
            entries: &entries,
        });
        let slot = self.profiler.as_mut().map(|p| {
            let [x, y, z] = d.workgroups;
            let timing = KernelTiming {
                label: d.pipeline.name().to_string(),
                variant: format!("{}|grid {x}x{y}x{z}", d.pipeline.variant()),
                start_ns: 0.0,
                end_ns: 0.0,
                flops: d.flops,
                bytes: d.bytes,
            };
            (p.inside_passes, p.reserve(device, timing))
        });
        match slot {
            Some((false, slot)) => {
                // No timestamps inside passes: this dispatch gets a pass of its own.
                self.pass = None;
                let writes = wgpu::ComputePassTimestampWrites {
                    query_set: &slot.set,
                    beginning_of_pass_write_index: Some(slot.begin),
                    end_of_pass_write_index: Some(slot.end),
                };
                let mut pass = self.encoder_mut(device).begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("vdd timed pass"),
                    timestamp_writes: Some(writes),
                });
                pass.set_pipeline(&d.pipeline.raw);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
            }
            slot => {
                let pass = self.pass(device);
                pass.set_pipeline(&d.pipeline.raw);
                pass.set_bind_group(0, &bind_group, &[]);
                if let Some((_, s)) = &slot {
                    pass.write_timestamp(&s.set, s.begin);
                }
                pass.dispatch_workgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
                if let Some((_, s)) = &slot {
                    pass.write_timestamp(&s.set, s.end);
                }
            }
        }
        self.stats.dispatches += 1;
    }

    /// Whether anything is waiting to be submitted.
    pub(crate) fn is_empty(&self) -> bool {
        self.encoder.is_none()
    }

    /// Writes the arena, finishes the encoder and submits it. Returns false if there was nothing.
    pub(crate) fn submit(&mut self, device: &wgpu::Device, queue: &wgpu::Queue) -> bool {
        self.pass = None;
        let Some(mut encoder) = self.encoder.take() else {
            return false;
        };
        if let Some(p) = self.profiler.as_mut() {
            p.resolve(device, &mut encoder);
        }
        let used = (self.current + 1).min(self.chunks.len());
        for chunk in &mut self.chunks[..used] {
            if !chunk.data.is_empty() {
                queue.write_buffer(&chunk.buffer, 0, &chunk.data);
                chunk.data.clear();
            }
        }
        self.current = 0;
        queue.submit([encoder.finish()]);
        self.stats.submits += 1;
        true
    }
}
