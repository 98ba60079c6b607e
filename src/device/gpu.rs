//! The GPU context: adapter choice, device creation, buffers, pipelines and the command stream.

use super::mirror;
use super::pipeline::{self, Access, Pipeline, PipelineSpec};
use super::pool::{self, GpuBuffer, MemoryStats, Pool};
use super::profiler::{KernelTiming, Profiler};
use super::report::AdapterReport;
use super::stream::{Dispatch, Stream, StreamStats};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

/// Options for opening a GPU. [`Default`] reads the standard wgpu environment variables.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Backends to search, as `WGPU_BACKEND` spells them (`vulkan`, `metal`, `dx12`, `gl`,
    /// comma-separated). `None`: every native backend but GL.
    pub backend: Option<String>,
    /// A substring of the adapter name (`WGPU_ADAPTER_NAME`), case-insensitive.
    pub adapter_name: Option<String>,
    /// `low`, `high` or `none` (`WGPU_POWER_PREF`); `None`: high performance.
    pub power_preference: Option<String>,
    /// Limits the caller needs; device creation fails with [`Error::LimitExceeded`] naming the
    /// first limit the adapter cannot meet. `None` requests whatever the adapter offers.
    pub required_limits: Option<wgpu::Limits>,
    /// Keep wgpu's injected shader bounds checks. Default: on in debug builds, off in release
    /// builds, overridable with `VDD_SHADER_CHECKS=1|0`.
    pub shader_checks: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        let shader_checks = match std::env::var("VDD_SHADER_CHECKS").as_deref() {
            Ok("1") | Ok("true") => true,
            Ok("0") | Ok("false") => false,
            _ => cfg!(debug_assertions),
        };
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        GpuOptions {
            backend: var("WGPU_BACKEND"),
            adapter_name: var("WGPU_ADAPTER_NAME"),
            power_preference: var("WGPU_POWER_PREF"),
            required_limits: None,
            shader_checks,
        }
    }
}

/// A wgpu adapter, its device and queue, and the engine state that lives per device.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    features: wgpu::Features,
    limits: wgpu::Limits,
    pub(crate) shader_checks: bool,
    pipelines: Mutex<HashMap<String, Arc<Pipeline>>>,
    stream: Mutex<Stream>,
    poison: Mutex<Option<u32>>,
    pub(crate) tuning: std::sync::OnceLock<crate::kernels::tuning::Tuning>,
    pool: Pool,
    errors: Arc<Mutex<Vec<String>>>,
    _instance: wgpu::Instance,
}

fn pick_adapter(instance: &wgpu::Instance, backends: wgpu::Backends, opts: &GpuOptions) -> Result<wgpu::Adapter> {
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    if let Some(wanted) = &opts.adapter_name {
        let wanted_lc = wanted.to_lowercase();
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        return adapters
            .into_iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&wanted_lc))
            .ok_or(Error::AdapterNotFound { wanted: wanted.clone(), available: names });
    }
    let power_preference = match opts.power_preference.as_deref().map(str::to_lowercase).as_deref() {
        None | Some("high") => wgpu::PowerPreference::HighPerformance,
        Some("low") => wgpu::PowerPreference::LowPower,
        Some("none") => wgpu::PowerPreference::None,
        Some(other) => {
            return Err(Error::BadEnv {
                var: "WGPU_POWER_PREF",
                value: other.to_string(),
                why: "expected low, high or none".into(),
            })
        }
    };
    let req = wgpu::RequestAdapterOptions { power_preference, ..Default::default() };
    match pollster::block_on(instance.request_adapter(&req)) {
        Ok(a) => Ok(a),
        Err(e) => {
            let seen: Vec<String> = adapters.iter().map(|a| format!("{:?}", a.get_info().name)).collect();
            Err(Error::NoAdapter {
                detail: format!(" (backends {backends:?}; adapters seen: [{}]; {e})", seen.join(", ")),
            })
        }
    }
}

impl Gpu {
    /// Opens the adapter the options choose ([`GpuOptions::default`] takes the standard wgpu
    /// environment variables: `WGPU_BACKEND` (e.g. `vulkan`, `metal`, `dx12`; default: all
    /// native backends but GL), `WGPU_ADAPTER_NAME` (substring of the adapter name),
    /// `WGPU_POWER_PREF` (`low`/`high`/`none`)).
    ///
    /// # Errors
    /// [`Error::NoAdapter`], [`Error::AdapterNotFound`], [`Error::BadEnv`],
    /// [`Error::LimitExceeded`] (a required limit the adapter lacks) or [`Error::RequestDevice`].
    pub fn new(opts: GpuOptions) -> Result<Gpu> {
        let backends = match &opts.backend {
            Some(v) => {
                let b = wgpu::Backends::from_comma_list(v);
                if b.is_empty() {
                    let why = "expected vulkan, metal, dx12 or gl".into();
                    return Err(Error::BadEnv { var: "WGPU_BACKEND", value: v.clone(), why });
                }
                b
            }
            None => wgpu::Backends::PRIMARY,
        };
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let adapter = pick_adapter(&instance, backends, &opts)?;
        let adapter_limits = adapter.limits();
        let limits = match &opts.required_limits {
            Some(req) => {
                let mut failure = None;
                req.check_limits_with_fail_fn(&adapter_limits, false, |name, want, allowed| {
                    failure.get_or_insert((name, want, allowed));
                });
                if let Some((name, requested, limit)) = failure {
                    return Err(Error::LimitExceeded { what: name.to_string(), requested, limit });
                }
                adapter_limits.clone()
            }
            None => adapter_limits.clone(),
        };
        use wgpu::Features as F;
        let wanted =
            F::TIMESTAMP_QUERY | F::TIMESTAMP_QUERY_INSIDE_ENCODERS | F::TIMESTAMP_QUERY_INSIDE_PASSES | F::SUBGROUP;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("vdd"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::RequestDevice(e.to_string()))?;
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let info = adapter.get_info();
        let stream = Stream::new(limits.min_uniform_buffer_offset_alignment);
        Ok(Gpu {
            device,
            queue,
            info,
            features,
            limits,
            shader_checks: opts.shader_checks,
            pipelines: Mutex::default(),
            stream: Mutex::new(stream),
            poison: Mutex::new(None),
            tuning: std::sync::OnceLock::new(),
            pool: Pool::default(),
            errors,
            _instance: instance,
        })
    }

    /// Adapter name, backend, driver.
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The features enabled on the device.
    pub fn features(&self) -> wgpu::Features {
        self.features
    }

    /// The device's limits (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Whether shaders keep wgpu's injected bounds checks.
    pub fn shader_checks(&self) -> bool {
        self.shader_checks
    }

    /// The adapter report (see [`AdapterReport`]).
    pub fn report(&self) -> AdapterReport {
        AdapterReport::new(&self.info, self.features, &self.limits, self.queue.get_timestamp_period())
    }

    /// The raw wgpu device and queue, for tools that build their own passes.
    pub fn raw(&self) -> (&wgpu::Device, &wgpu::Queue) {
        (&self.device, &self.queue)
    }

    fn stream(&self) -> MutexGuard<'_, Stream> {
        self.stream.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_size(&self, bytes: u64) -> Result<()> {
        let limit = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(Error::LimitExceeded { what: "buffer size in bytes".into(), requested: bytes, limit });
        }
        Ok(())
    }

    /// A storage buffer of at least `bytes` bytes with undefined contents, from the pool.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] above the adapter's storage binding size.
    pub fn alloc(&self, bytes: u64) -> Result<GpuBuffer> {
        let size = pool::rounded(bytes);
        self.check_size(size)?;
        let buffer = pool::take(&self.pool, size, |size| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("vdd tensor"),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let poison = *self.poison.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bits) = poison {
            let words = vec![bits; (size / 4) as usize];
            self.write(&buffer, 0, bytemuck::cast_slice(&words))?;
        }
        Ok(buffer)
    }

    /// Test hook: fill every buffer handed out by [`Gpu::alloc`] with the 32-bit pattern `bits`
    /// (e.g. a NaN) so that elements a kernel fails to write show up. `None` turns it off.
    pub fn set_poison(&self, bits: Option<u32>) {
        *self.poison.lock().unwrap_or_else(|p| p.into_inner()) = bits;
    }

    /// A new storage buffer holding `data` (zero-padded to the rounded size).
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] above the adapter's storage binding size.
    pub fn upload(&self, data: &[u8]) -> Result<GpuBuffer> {
        let size = pool::rounded(data.len() as u64);
        self.check_size(size)?;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vdd tensor"),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: true,
        });
        buffer
            .slice(..)
            .get_mapped_range_mut()
            .map_err(|e| Error::Gpu(format!("mapping a new buffer: {e}")))?
            .slice(..data.len())
            .copy_from_slice(data);
        buffer.unmap();
        Ok(pool::adopt(&self.pool, buffer, size))
    }

    /// Records a write of `data` into `dst` at byte `offset`, ordered with the recorded kernels
    /// (it happens after everything recorded before it). Offset and length must be multiples of 4.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for misaligned or out-of-range writes.
    pub fn write(&self, dst: &GpuBuffer, offset: u64, data: &[u8]) -> Result<()> {
        let len = data.len() as u64;
        if !offset.is_multiple_of(4) || !len.is_multiple_of(4) || offset + len > dst.size() {
            return Err(Error::invalid(
                "gpu write",
                format!("{len} bytes at {offset} into a {}-byte buffer (need 4-byte alignment)", dst.size()),
            ));
        }
        if len == 0 {
            return Ok(());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vdd upload staging"),
            size: len,
            usage: wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        staging
            .slice(..)
            .get_mapped_range_mut()
            .map_err(|e| Error::Gpu(format!("mapping a staging buffer: {e}")))?
            .copy_from_slice(data);
        staging.unmap();
        self.stream().encoder(&self.device).copy_buffer_to_buffer(&staging, 0, dst.raw(), offset, len);
        dst.touch();
        Ok(())
    }

    /// Records a copy between buffers (ordered with the recorded kernels).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for misaligned or out-of-range copies.
    pub fn copy(&self, src: &GpuBuffer, src_offset: u64, dst: &GpuBuffer, dst_offset: u64, len: u64) -> Result<()> {
        if !src_offset.is_multiple_of(4)
            || !dst_offset.is_multiple_of(4)
            || !len.is_multiple_of(4)
            || src_offset + len > src.size()
            || dst_offset + len > dst.size()
        {
            return Err(Error::invalid("gpu copy", format!("{len} bytes from {src_offset} to {dst_offset}")));
        }
        if len > 0 && src.id() != dst.id() {
            self.stream().encoder(&self.device).copy_buffer_to_buffer(
                src.raw(),
                src_offset,
                dst.raw(),
                dst_offset,
                len,
            );
            dst.touch();
        }
        Ok(())
    }

    /// Records zero-filling of `len` bytes of `dst` from `offset` (both multiples of 4).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for misaligned or out-of-range ranges.
    pub fn zero(&self, dst: &GpuBuffer, offset: u64, len: u64) -> Result<()> {
        if !offset.is_multiple_of(4) || !len.is_multiple_of(4) || offset + len > dst.size() {
            return Err(Error::invalid("gpu zero", format!("{len} bytes at {offset}")));
        }
        if len > 0 {
            self.stream().encoder(&self.device).clear_buffer(dst.raw(), offset, Some(len));
            dst.touch();
        }
        Ok(())
    }

    /// Submits everything recorded, waits for it, and returns its bytes `offset..offset+len` of `src`.
    ///
    /// # Errors
    /// Any GPU error captured since the last check, or a failed mapping.
    pub fn read(&self, src: &GpuBuffer, offset: u64, len: u64) -> Result<Vec<u8>> {
        if !offset.is_multiple_of(4) || !len.is_multiple_of(4) || offset + len > src.size() {
            return Err(Error::invalid("gpu read", format!("{len} bytes at {offset} of a {}-byte buffer", src.size())));
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vdd readback"),
            size: len,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut s = self.stream();
            s.encoder(&self.device).copy_buffer_to_buffer(src.raw(), offset, &staging, 0, len);
            s.submit(&self.device, &self.queue);
        }
        let (tx, rx) = mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::Readback("map callback never ran".into()))?
            .map_err(|e| Error::Readback(e.to_string()))?;
        let bytes = staging.slice(..).get_mapped_range().map_err(|e| Error::Readback(e.to_string()))?.to_vec();
        staging.unmap();
        Ok(bytes)
    }

    /// Returns a cached pipeline, compiling it with `build` on first use.
    ///
    /// # Errors
    /// [`Error::Shader`] when the WGSL does not compile or the pipeline is invalid.
    pub fn pipeline(&self, key: &str, build: impl FnOnce() -> PipelineSpecOwned) -> Result<Arc<Pipeline>> {
        if let Some(p) = self.pipelines.lock().expect("pipeline cache").get(key) {
            return Ok(p.clone());
        }
        let spec = build();
        let overrides: Vec<(&str, f64)> = spec.overrides.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let p = Arc::new(pipeline::compile(
            self,
            &PipelineSpec {
                key: key.to_string(),
                source: spec.source,
                entry: &spec.entry,
                overrides: &overrides,
                storage: &spec.storage,
                params_size: spec.params_size,
            },
        )?);
        self.pipelines.lock().expect("pipeline cache").insert(key.to_string(), p.clone());
        Ok(p)
    }

    /// Whether `buf` can be read through a texture mirror on this adapter (its rows fit the
    /// adapter's 2-D textures); kernels with a texture binding fail with
    /// [`Error::LimitExceeded`] otherwise, so launchers with a buffer variant check first.
    pub fn mirror_fits(&self, buf: &GpuBuffer) -> bool {
        mirror::check(buf.size(), self.limits.max_texture_dimension_2d).is_ok()
    }

    /// Records a dispatch into the stream.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] for too many workgroups or a texture mirror taller than the
    /// adapter's 2-D textures, [`Error::InvalidArgument`] for a wrong number of bindings, params
    /// of the wrong size, or a buffer bound both as a texture mirror and read-write.
    pub fn dispatch(&self, d: Dispatch) -> Result<()> {
        let max = self.limits.max_compute_workgroups_per_dimension;
        if let Some(&w) = d.workgroups.iter().find(|&&w| w > max) {
            return Err(Error::LimitExceeded {
                what: format!("workgroups per dimension of {}", d.pipeline.key),
                requested: w.into(),
                limit: max.into(),
            });
        }
        if d.buffers.len() != d.pipeline.access.len() || d.pipeline.has_params == d.params.is_empty() {
            return Err(Error::invalid(
                "dispatch",
                format!(
                    "{} takes {} buffers (+params: {}), got {} (+{} param bytes)",
                    d.pipeline.key,
                    d.pipeline.access.len(),
                    d.pipeline.has_params,
                    d.buffers.len(),
                    d.params.len()
                ),
            ));
        }
        let written =
            |id: usize| d.buffers.iter().zip(&d.pipeline.access).any(|(b, a)| *a == Access::ReadWrite && b.id() == id);
        for (b, a) in d.buffers.iter().zip(&d.pipeline.access) {
            if *a == Access::Texture {
                mirror::check(b.size(), self.limits.max_texture_dimension_2d)?;
                if written(b.id()) {
                    // The mirror would hold the contents from before the dispatch.
                    let why = "a buffer read through its texture mirror is also written by the dispatch";
                    return Err(Error::invalid("dispatch", format!("{}: {why}", d.pipeline.key)));
                }
            }
        }
        if d.workgroups.contains(&0) {
            return Ok(());
        }
        self.stream().dispatch(&self.device, &d);
        Ok(())
    }

    /// Submits everything recorded so far without waiting.
    pub fn flush(&self) {
        self.stream().submit(&self.device, &self.queue);
    }

    fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the queue: {e}")))?;
        self.take_errors()
    }

    /// Submits everything recorded so far and waits until the GPU has finished it.
    ///
    /// # Errors
    /// The first GPU error captured since the last check.
    pub fn sync(&self) -> Result<()> {
        self.flush();
        self.wait()
    }

    fn take_errors(&self) -> Result<()> {
        let mut errs = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errs.is_empty() {
            return Ok(());
        }
        let msg = errs.join("\n");
        errs.clear();
        Err(Error::Gpu(msg))
    }

    /// Starts timing every dispatch with timestamp queries (see [`Gpu::stop_profiling`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the adapter has no timestamp queries.
    pub fn start_profiling(&self) -> Result<()> {
        use wgpu::Features as F;
        if !self.features.contains(F::TIMESTAMP_QUERY) {
            return Err(Error::invalid("profiler", format!("{} has no timestamp queries", self.info.name)));
        }
        let inside = self.features.contains(F::TIMESTAMP_QUERY_INSIDE_PASSES);
        let mut s = self.stream();
        if s.profiler.is_none() {
            s.profiler = Some(Profiler::new(inside, self.queue.get_timestamp_period()));
        }
        Ok(())
    }

    /// Submits and waits for everything recorded, stops profiling and returns one timing per
    /// dispatch recorded since [`Gpu::start_profiling`], in recording order.
    ///
    /// # Errors
    /// GPU errors, or [`Error::InvalidArgument`] if profiling was not started.
    pub fn stop_profiling(&self) -> Result<Vec<KernelTiming>> {
        self.sync()?;
        let p = self.stream().profiler.take().ok_or_else(|| Error::invalid("profiler", "profiling was not started"))?;
        p.collect(&self.device).map_err(Error::Readback)
    }

    /// Counts of submits, dispatches and transfers since creation.
    pub fn stream_stats(&self) -> StreamStats {
        self.stream().stats
    }

    /// Whether recorded work is waiting to be submitted.
    pub fn has_pending(&self) -> bool {
        !self.stream().is_empty()
    }

    /// Tensor-buffer memory accounting.
    pub fn memory(&self) -> MemoryStats {
        pool::stats(&self.pool)
    }

    /// Starts a new peak-memory measurement from the current live bytes.
    pub fn reset_peak_memory(&self) {
        pool::reset_peak(&self.pool)
    }
}

/// An owned pipeline description, produced lazily on a cache miss (see [`Gpu::pipeline`]).
pub struct PipelineSpecOwned {
    /// Complete WGSL source.
    pub source: String,
    /// Entry point name.
    pub entry: String,
    /// Pipeline-overridable constants.
    pub overrides: Vec<(String, f64)>,
    /// Storage binding access modes.
    pub storage: Vec<pipeline::Access>,
    /// Params struct size in bytes (0 for none).
    pub params_size: u64,
}
