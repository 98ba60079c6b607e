//! Devices: a wgpu GPU (Vulkan / Metal / DX12) or the CPU.
//!
//! [`Device::Gpu`] wraps a [`Gpu`] context (adapter, device, queue, pipeline cache, the command
//! stream that ops record into). [`Device::Cpu`] runs the plain-Rust implementations of the same
//! maths in f32; [`Device::CpuF64`] runs them in f64 and exists for finite-difference gradient
//! checks and as a high-precision reference.

mod gpu;
mod mirror;
mod pipeline;
mod pool;
mod profiler;
mod report;
mod stream;

pub use gpu::{Gpu, GpuOptions, PipelineSpecOwned};
pub use pipeline::{Access, Pipeline, TEXTURE_ROW};
pub use pool::{GpuBuffer, MemoryStats};
pub use profiler::KernelTiming;
pub use report::AdapterReport;
pub use stream::{Binding, Dispatch, StreamStats};

use crate::error::{Error, Result};
use std::sync::Arc;

/// Where tensors live and ops run.
#[derive(Clone)]
pub enum Device {
    /// A wgpu adapter (shared, cheap to clone).
    Gpu(Arc<Gpu>),
    /// The CPU in f32: the reference implementations, also used for embedded inference.
    Cpu,
    /// The CPU in f64: for gradient checks and precise references.
    CpuF64,
}

impl Device {
    /// Opens the GPU chosen by `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` / `WGPU_POWER_PREF`.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when no adapter exists, [`Error::AdapterNotFound`] when
    /// `WGPU_ADAPTER_NAME` matches none, [`Error::RequestDevice`] when device creation fails.
    pub fn gpu() -> Result<Self> {
        Ok(Device::Gpu(Arc::new(Gpu::new(GpuOptions::default())?)))
    }

    /// Parses a device name: `cpu`, `cpu64` or `gpu`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown name; GPU errors as in [`Device::gpu`].
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cpu64" | "cpu-f64" => Ok(Device::CpuF64),
            "gpu" => Device::gpu(),
            other => Err(Error::invalid("device", format!("unknown device {other:?}; expected cpu, cpu64 or gpu"))),
        }
    }

    /// A short name for reports: `gpu`, `cpu` or `cpu64`.
    pub fn kind(&self) -> &'static str {
        match self {
            Device::Gpu(_) => "gpu",
            Device::Cpu => "cpu",
            Device::CpuF64 => "cpu64",
        }
    }

    /// The GPU context, if this is a GPU device.
    pub fn as_gpu(&self) -> Option<&Arc<Gpu>> {
        match self {
            Device::Gpu(g) => Some(g),
            _ => None,
        }
    }

    /// Whether two handles refer to the same device.
    pub fn same(&self, other: &Device) -> bool {
        match (self, other) {
            (Device::Gpu(a), Device::Gpu(b)) => Arc::ptr_eq(a, b),
            (Device::Cpu, Device::Cpu) | (Device::CpuF64, Device::CpuF64) => true,
            _ => false,
        }
    }

    /// Submits all recorded GPU work and waits for it (no-op on the CPU).
    ///
    /// # Errors
    /// GPU errors captured while the work was recorded or executed.
    pub fn sync(&self) -> Result<()> {
        match self {
            Device::Gpu(g) => g.sync(),
            _ => Ok(()),
        }
    }

    /// A one-line description, e.g. `gpu: llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]`.
    pub fn describe(&self) -> String {
        match self {
            Device::Gpu(g) => {
                let i = g.info();
                format!("gpu: {} [{:?}, {:?}]", i.name, i.backend, i.device_type)
            }
            Device::Cpu => "cpu (f32)".into(),
            Device::CpuF64 => "cpu (f64)".into(),
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}
