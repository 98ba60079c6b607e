//! Plain-Rust implementations of every kernel's maths: the CPU device's ops and the reference
//! the GPU kernels are tested against.
//!
//! Everything is generic over [`Real`] (f32 for the CPU device, f64 for gradient checks).
//! Functions take slices with explicit sizes and write into caller-provided outputs, so the
//! tensor layer and the tests can call them without allocation games.

pub mod attention;
pub mod copy;
pub mod diffusion;
pub mod elementwise;
pub mod fastmath;
pub mod gaussian;
pub mod gemm;
pub mod layer_norm;
pub mod mlp_chain;
pub mod optim;
pub mod reduce;
pub mod rng;
pub mod transformer;

use num_traits::Float;

/// Elements below which a map runs on one thread.
const PAR_MIN: usize = 1 << 15;

/// Runs `f(start, chunk)` over `out` split into one contiguous chunk per core (chunk boundaries
/// are multiples of `granule`), on scoped threads when `out` is large. For elementwise maps
/// only: every element's value is independent of the split, so results do not depend on it.
pub(crate) fn parallel<T: Send>(out: &mut [T], granule: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let threads = threads();
    let n = out.len();
    if threads < 2 || n < PAR_MIN {
        f(0, out);
        return;
    }
    let granule = granule.max(1);
    let chunk = n.div_ceil(threads).div_ceil(granule) * granule;
    std::thread::scope(|s| {
        for (i, part) in out.chunks_mut(chunk).enumerate() {
            let f = &f;
            s.spawn(move || f(i * chunk, part));
        }
    });
}

/// Worker threads of the CPU device's parallel loops (the available cores).
pub(crate) fn threads() -> usize {
    // Queried once: `available_parallelism` reads cgroup files (and allocates) on Linux.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Makes glibc's allocator keep freed memory instead of returning every large buffer to the
/// OS (by default buffers ≥ 128 KiB are `mmap`ed and `munmap`ed, so each CPU op's output
/// page-faults afresh: ~30 % of a CPU training step on the reference machine). Raises the mmap
/// threshold to 32 MiB and the trim threshold to 1 GiB. Called by the `vdd` and tool binaries
/// at start-up; a no-op on other C libraries. Process-wide, so a library user opts in.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_TOP_PAD: i32 = -2;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only adjusts allocator parameters; any values are accepted.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
            mallopt(M_TOP_PAD, 64 << 20);
        }
    }
}

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
    /// `eˣ` (vectorisable approximation in f32, libm in f64).
    fn vexp(self) -> Self;
    /// `tanh x` (as [`Real::vexp`]).
    fn vtanh(self) -> Self;
    /// `ln(1 + eˣ)`, linear above 20 (as [`Real::vexp`]).
    fn vsoftplus(self) -> Self;
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
    #[inline(always)]
    fn erf(self) -> Self {
        fastmath::erf(self)
    }
    #[inline(always)]
    fn vexp(self) -> Self {
        fastmath::exp(self)
    }
    #[inline(always)]
    fn vtanh(self) -> Self {
        fastmath::tanh(self)
    }
    #[inline(always)]
    fn vsoftplus(self) -> Self {
        fastmath::softplus(self)
    }
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
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
    #[inline(always)]
    fn erf(self) -> Self {
        libm::erf(self)
    }
    #[inline(always)]
    fn vexp(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn vtanh(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn vsoftplus(self) -> Self {
        if self > 20.0 {
            self
        } else {
            self.exp().ln_1p()
        }
    }
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
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
