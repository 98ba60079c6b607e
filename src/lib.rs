//! vdd: Variational Diffusion Distillation on a hand-written wgpu/WGSL compute engine.
pub mod autodiff;
pub mod cpu;
pub mod device;
pub mod diffusion;
pub mod error;
pub mod eval;
pub mod io;
pub mod kernels;
pub mod metrics;
pub mod moe;
pub mod nn;
pub mod plot;
pub mod policy;
pub mod profile;
pub mod rollout;
pub mod tasks;
pub mod tensor;
pub mod vdd;
pub mod workloads;

pub use device::Device;
pub use error::{Error, Result};
pub use policy::Policy;
pub use tensor::Tensor;
