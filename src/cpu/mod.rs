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
pub mod optim;
pub mod reduce;
pub mod rng;

use num_traits::Float;

/// A floating-point type the CPU implementations run in: `f32` or `f64`.
pub trait Real:
    Float
    + std::fmt::Debug
    + Default
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + 'static
{
    /// The error function.
    fn erf(self) -> Self;
    /// Conversion from f64 (rounding for f32).
    fn of(x: f64) -> Self;
    /// Conversion to f64.
    fn to64(self) -> f64;
    /// `c = alpha·A·B` for an `m×k` A and `k×n` B given by (row, column) strides, into a
    /// row-major C with row stride `rsc` (matrixmultiply's sgemm/dgemm).
    ///
    /// # Safety
    /// The pointers must reach every element the dimensions and strides address.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: usize,
        csa: usize,
        b: *const Self,
        rsb: usize,
        csb: usize,
        c: *mut Self,
        rsc: isize,
    );
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
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: usize,
        csa: usize,
        b: *const Self,
        rsb: usize,
        csb: usize,
        c: *mut Self,
        rsc: isize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                alpha,
                a,
                rsa as isize,
                csa as isize,
                b,
                rsb as isize,
                csb as isize,
                0.0,
                c,
                rsc,
                1,
            )
        }
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
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: usize,
        csa: usize,
        b: *const Self,
        rsb: usize,
        csb: usize,
        c: *mut Self,
        rsc: isize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            matrixmultiply::dgemm(
                m,
                k,
                n,
                alpha,
                a,
                rsa as isize,
                csa as isize,
                b,
                rsb as isize,
                csb as isize,
                0.0,
                c,
                rsc,
                1,
            )
        }
    }
}
