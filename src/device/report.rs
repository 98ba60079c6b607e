//! The adapter report: what the GPU is and the limits and features the engine relies on.

use serde::Serialize;
use std::fmt;

/// Name, backend, driver, and the limits and features that matter for compute.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterReport {
    /// Adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Backend: Vulkan, Metal, Dx12, Gl.
    pub backend: String,
    /// Device type: DiscreteGpu, IntegratedGpu, Cpu, VirtualGpu, Other.
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version information.
    pub driver_info: String,
    /// Backend-specific vendor id.
    pub vendor_id: u32,
    /// Backend-specific device id.
    pub device_id: u32,
    /// Smallest subgroup size (0 when subgroups are unsupported).
    pub subgroup_min_size: u32,
    /// Largest subgroup size.
    pub subgroup_max_size: u32,
    /// Feature flags relevant to the engine.
    pub features: FeatureReport,
    /// Limits relevant to the engine.
    pub limits: LimitReport,
    /// Nanoseconds per timestamp tick.
    pub timestamp_period_ns: f32,
}

/// Features the engine can use.
#[derive(Clone, Debug, Serialize)]
pub struct FeatureReport {
    /// Pass-level timestamp queries (kernel profiler).
    pub timestamp_query: bool,
    /// Timestamps between commands in an encoder.
    pub timestamp_query_inside_encoders: bool,
    /// Timestamps between dispatches inside a compute pass (per-kernel profiling in one pass).
    pub timestamp_query_inside_passes: bool,
    /// Subgroup operations in shaders.
    pub subgroup: bool,
    /// f16 arithmetic in shaders.
    pub shader_f16: bool,
    /// f64 arithmetic in shaders.
    pub shader_f64: bool,
}

/// Limits that bound tensor sizes and kernel shapes.
#[derive(Clone, Debug, Serialize)]
pub struct LimitReport {
    /// Largest storage-buffer binding in bytes (bounds the largest tensor).
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer in bytes.
    pub max_buffer_size: u64,
    /// Storage buffers one kernel may bind.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Largest uniform binding in bytes.
    pub max_uniform_buffer_binding_size: u64,
    /// Alignment of uniform offsets (the uniform arena's slot size).
    pub min_uniform_buffer_offset_alignment: u32,
    /// Workgroup (shared) memory per workgroup, bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroup size limits per dimension.
    pub max_compute_workgroup_size: [u32; 3],
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
}

impl AdapterReport {
    pub(crate) fn new(
        info: &wgpu::AdapterInfo,
        features: wgpu::Features,
        limits: &wgpu::Limits,
        timestamp_period_ns: f32,
    ) -> Self {
        use wgpu::Features as F;
        AdapterReport {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            vendor_id: info.vendor,
            device_id: info.device,
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
            features: FeatureReport {
                timestamp_query: features.contains(F::TIMESTAMP_QUERY),
                timestamp_query_inside_encoders: features.contains(F::TIMESTAMP_QUERY_INSIDE_ENCODERS),
                timestamp_query_inside_passes: features.contains(F::TIMESTAMP_QUERY_INSIDE_PASSES),
                subgroup: features.contains(F::SUBGROUP),
                shader_f16: features.contains(F::SHADER_F16),
                shader_f64: features.contains(F::SHADER_F64),
            },
            limits: LimitReport {
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_buffer_size: limits.max_buffer_size,
                max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
                max_uniform_buffer_binding_size: limits.max_uniform_buffer_binding_size,
                min_uniform_buffer_offset_alignment: limits.min_uniform_buffer_offset_alignment,
                max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
                max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
                max_compute_workgroup_size: [
                    limits.max_compute_workgroup_size_x,
                    limits.max_compute_workgroup_size_y,
                    limits.max_compute_workgroup_size_z,
                ],
                max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            },
            timestamp_period_ns,
        }
    }

    /// A stable identifier for per-adapter caches (kernel tuning results).
    pub fn cache_key(&self) -> String {
        let raw = format!("{}-{}-{}-{}", self.backend, self.name, self.driver, self.driver_info);
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl fmt::Display for AdapterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let l = &self.limits;
        writeln!(f, "adapter      {}", self.name)?;
        writeln!(f, "backend      {}", self.backend)?;
        writeln!(f, "device type  {}", self.device_type)?;
        writeln!(f, "driver       {} ({})", self.driver, self.driver_info)?;
        writeln!(f, "vendor/dev   {:#06x} / {:#06x}", self.vendor_id, self.device_id)?;
        writeln!(
            f,
            "subgroups    {} (size {}..={})",
            yes(self.features.subgroup),
            self.subgroup_min_size,
            self.subgroup_max_size
        )?;
        writeln!(
            f,
            "timestamps   pass: {}, encoder: {}, inside passes: {} (period {} ns)",
            yes(self.features.timestamp_query),
            yes(self.features.timestamp_query_inside_encoders),
            yes(self.features.timestamp_query_inside_passes),
            self.timestamp_period_ns
        )?;
        writeln!(f, "shader f16   {}   f64 {}", yes(self.features.shader_f16), yes(self.features.shader_f64))?;
        writeln!(f, "limits")?;
        writeln!(f, "  storage binding        {}", mib(l.max_storage_buffer_binding_size))?;
        writeln!(f, "  buffer size            {}", mib(l.max_buffer_size))?;
        writeln!(f, "  storage buffers/stage  {}", l.max_storage_buffers_per_shader_stage)?;
        writeln!(
            f,
            "  uniform binding        {} bytes (offset alignment {})",
            l.max_uniform_buffer_binding_size, l.min_uniform_buffer_offset_alignment
        )?;
        writeln!(f, "  workgroup storage      {} bytes", l.max_compute_workgroup_storage_size)?;
        writeln!(f, "  invocations/workgroup  {}", l.max_compute_invocations_per_workgroup)?;
        writeln!(
            f,
            "  workgroup size         {} x {} x {}",
            l.max_compute_workgroup_size[0], l.max_compute_workgroup_size[1], l.max_compute_workgroup_size[2]
        )?;
        write!(f, "  workgroups/dimension   {}", l.max_compute_workgroups_per_dimension)
    }
}
