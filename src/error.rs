//! The library's error type.

use thiserror::Error;

/// Everything that can go wrong in the engine, with enough context to act on.
#[derive(Debug, Error)]
pub enum Error {
    /// No GPU adapter matched the request (or none exists at all).
    #[error("no GPU adapter found{detail}. Install a Vulkan driver (on Debian/Ubuntu: `apt-get install mesa-vulkan-drivers libvulkan1`) or use the CPU device")]
    NoAdapter {
        /// Extra context: backends searched, adapters seen.
        detail: String,
    },
    /// `WGPU_ADAPTER_NAME` was set but no adapter name contains it.
    #[error("WGPU_ADAPTER_NAME={wanted:?} matches no adapter; available: {available:?}")]
    AdapterNotFound {
        /// The requested substring.
        wanted: String,
        /// Names of the adapters that were found.
        available: Vec<String>,
    },
    /// An environment variable had a value we cannot interpret.
    #[error("environment variable {var}={value:?} is not valid: {why}")]
    BadEnv {
        /// Variable name.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        why: String,
    },
    /// A request exceeds what the adapter supports.
    #[error("{what}: requested {requested}, but the adapter allows at most {limit}")]
    LimitExceeded {
        /// Which limit.
        what: String,
        /// The requested amount.
        requested: u64,
        /// The adapter's limit.
        limit: u64,
    },
    /// wgpu refused to create the device.
    #[error("could not create the GPU device: {0}")]
    RequestDevice(String),
    /// A shader failed to parse, validate or compile into a pipeline.
    #[error("shader `{kernel}` failed to compile: {message}")]
    Shader {
        /// Kernel key.
        kernel: String,
        /// The compiler's message (with source spans when available).
        message: String,
    },
    /// A validation or runtime error reported by wgpu.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// Mapping a buffer for read-back failed.
    #[error("reading back a GPU buffer failed: {0}")]
    Readback(String),
    /// Tensor shapes do not fit the operation.
    #[error("shape error in {op}: {msg}")]
    Shape {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// Tensors on different devices were combined.
    #[error("device mismatch in {op}: {msg}")]
    DeviceMismatch {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// An argument outside its valid range.
    #[error("invalid argument to {op}: {msg}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// A checkpoint file is unreadable, corrupt, or not what the caller needs.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// Training produced a non-finite value.
    #[error("training diverged at step {step}: {msg}")]
    Diverged {
        /// The step (1-based) at which it was detected.
        step: u64,
        /// What was non-finite.
        msg: String,
    },
    /// File system error with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for a [`Error::Shape`].
    pub fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape { op, msg: msg.into() }
    }

    /// Shorthand for an [`Error::InvalidArgument`].
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidArgument { op, msg: msg.into() }
    }
}
