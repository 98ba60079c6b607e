//! Plain-Rust implementations of every kernel's maths: the CPU device's ops and the reference
//! the GPU kernels are tested against.
//!
//! Everything is generic over [`Real`] (f32 for the CPU device, f64 for gradient checks).
//! Functions take slices with explicit sizes and write into caller-provided outputs, so the
//! tensor layer and the tests can call them without allocation games.

pub mod attention;
pub mod copy;
pub mod elementwise;
pub mod gemm;
pub mod layer_norm;
pub mod reduce;
pub mod rng;

use nalgebra::Scalar;
use num_traits::Float;

/// A floating-point type the CPU implementations run in: `f32` or `f64`.
pub trait Real:
    Float
    + Scalar
    + Default
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + nalgebra::ClosedAddAssign
    + nalgebra::ClosedMulAssign
    + 'static
{
    /// The error function.
    fn erf(self) -> Self;
    /// Conversion from f64 (rounding for f32).
    fn of(x: f64) -> Self;
    /// Conversion to f64.
    fn to64(self) -> f64;
}

impl Real for f32 {
    fn erf(self) -> Self {
        libm::erff(self)
    }
    fn of(x: f64) -> Self {
        x as f32
    }
    fn to64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    fn erf(self) -> Self {
        libm::erf(self)
    }
    fn of(x: f64) -> Self {
        x
    }
    fn to64(self) -> f64 {
        self
    }
}
