//! Compiled compute pipelines with explicit bind-group layouts.
//!
//! Every kernel binds its buffers first (in declaration order, `@binding(0..n)`: storage
//! buffers, or a buffer's texture mirror for [`Access::Texture`]) and its uniform params last
//! (`@binding(n)`), all in `@group(0)`. The layout is explicit, so a kernel
//! variant that never touches one of its buffers (say, the bias of a GEMM without bias) still
//! takes the same bindings.

use super::Gpu;
use crate::error::{Error, Result};
use std::num::NonZeroU64;

/// How a kernel accesses one storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
    /// `texture_2d<f32>`: a read-only mirror of the buffer as an `rgba32float` texture of
    /// [`TEXTURE_ROW`] texels per row (vec4 `i` at texel `(i % TEXTURE_ROW, i / TEXTURE_ROW)`;
    /// `common/linear_texture.wgsl` reads it). For operands that stay constant over many
    /// dispatches, such as the weights of inference kernels: on llvmpipe a texel fetch is a
    /// vector gather, several times cheaper than a storage load (a per-lane scalar loop with a
    /// bounds check per component). The mirror is refreshed by a copy recorded before the
    /// dispatch whenever the buffer was written since the last copy ([`super::GpuBuffer`]).
    Texture,
}

/// Texels per row of a buffer's texture mirror ([`Access::Texture`]): 64 KiB, a multiple of the
/// 256-byte copy row alignment.
pub const TEXTURE_ROW: u32 = 4096;

/// Everything needed to build one pipeline. The key identifies it in the cache: two specs
/// with the same key must describe the same pipeline.
pub struct PipelineSpec<'a> {
    /// Cache key: `name|entry|defines|overrides`.
    pub key: String,
    /// Complete WGSL source (prelude and defines included).
    pub source: String,
    /// Entry point.
    pub entry: &'a str,
    /// Pipeline-overridable constants.
    pub overrides: &'a [(&'a str, f64)],
    /// Access mode of each storage binding, in binding order.
    pub storage: &'a [Access],
    /// Size in bytes of the uniform params struct (0: the kernel has no params binding).
    pub params_size: u64,
}

/// A compiled kernel: pipeline plus the layout its bind groups use.
pub struct Pipeline {
    pub(crate) raw: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
    /// The access of each storage binding, in binding order (texture mirrors and writes are
    /// tracked by it).
    pub(crate) access: Vec<Access>,
    pub(crate) has_params: bool,
    /// The cache key (kernel name, entry, defines, overrides).
    pub key: String,
}

impl Pipeline {
    /// The kernel name part of the key (before the first `|`), used as the profiler label.
    pub fn name(&self) -> &str {
        self.key.split('|').next().unwrap_or(&self.key)
    }

    /// The defines and overrides part of the key (after the first `|`).
    pub fn variant(&self) -> &str {
        self.key.split_once('|').map_or("", |(_, v)| v)
    }
}

fn layout_entries(storage: &[Access], params_size: u64) -> Vec<wgpu::BindGroupLayoutEntry> {
    let mut entries: Vec<_> = storage
        .iter()
        .enumerate()
        .map(|(i, a)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: match a {
                Access::Texture => wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                _ => wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: *a == Access::Read },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
            },
            count: None,
        })
        .collect();
    if params_size > 0 {
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: storage.len() as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: NonZeroU64::new(params_size),
            },
            count: None,
        });
    }
    entries
}

pub(crate) fn compile(gpu: &Gpu, spec: &PipelineSpec) -> Result<Pipeline> {
    let device = &gpu.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let desc = wgpu::ShaderModuleDescriptor {
        label: Some(&spec.key),
        source: wgpu::ShaderSource::Wgsl(spec.source.as_str().into()),
    };
    let module = if gpu.shader_checks {
        device.create_shader_module(desc)
    } else {
        // SAFETY: every kernel is tested against its CPU twin on awkward shapes with bounds checks
        // at the WGSL level (explicit guards on every load and store whose index can exceed the
        // logical size); wgpu's injected clamps only cost time. Backends with robust buffer
        // access (lavapipe, most Vulkan drivers) also make stray accesses harmless.
        unsafe {
            device.create_shader_module_trusted(
                desc,
                wgpu::ShaderRuntimeChecks {
                    bounds_checks: false,
                    force_loop_bounding: false,
                    ..wgpu::ShaderRuntimeChecks::checked()
                },
            )
        }
    };
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(&spec.key),
        entries: &layout_entries(spec.storage, spec.params_size),
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&spec.key),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let raw = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&spec.key),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some(spec.entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: spec.overrides,
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    if let Some(err) = pollster::block_on(scope.pop()) {
        return Err(Error::Shader { kernel: spec.key.clone(), message: err.to_string() });
    }
    Ok(Pipeline { raw, layout, access: spec.storage.to_vec(), has_params: spec.params_size > 0, key: spec.key.clone() })
}
