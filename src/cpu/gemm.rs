//! Batched GEMM with transpose flags, alpha and a bias epilogue (CPU twin of `shaders/matmul/`).
//!
//! Products run on `matrixmultiply` (nalgebra's GEMM backend) called directly with explicit
//! strides, so transposes cost nothing. nalgebra's own entry point is avoided on purpose: for
//! small dimensions (≤ 5) it falls back to a loop that writes past the end of row-major
//! strided views (`axcpy_uninit` iterates over the strided slice length; found with valgrind).

use super::Real;

/// Shape and layout of a batched matrix product
/// `C[b] = alpha · op(A[b]) · op(B[b]) + bias`, all row-major.
///
/// # Shapes
/// - `A[b]` is `[m, k]`, or `[k, m]` when `trans_a` (so `op(A) = Aᵀ`), at offset `b · batch_stride_a`;
/// - `B[b]` is `[k, n]`, or `[n, k]` when `trans_b`, at offset `b · batch_stride_b`;
/// - `C[b]` is `[m, n]` at offset `b · m · n`; `bias`, when present, is `[n]`.
///
/// A batch stride of 0 broadcasts one matrix over the batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmShape {
    /// Number of products.
    pub batch: usize,
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// A is stored transposed (`[k, m]`).
    pub trans_a: bool,
    /// B is stored transposed (`[n, k]`).
    pub trans_b: bool,
    /// Elements between consecutive A matrices (0: broadcast).
    pub batch_stride_a: usize,
    /// Elements between consecutive B matrices (0: broadcast).
    pub batch_stride_b: usize,
    /// Scale of the product.
    pub alpha: f32,
}

impl GemmShape {
    /// A plain `[m, k] · [k, n]` product.
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        GemmShape {
            batch: 1,
            m,
            n,
            k,
            trans_a: false,
            trans_b: false,
            batch_stride_a: m * k,
            batch_stride_b: k * n,
            alpha: 1.0,
        }
    }

    /// Elements of A the product reads (from its offset).
    pub fn a_len(&self) -> usize {
        if self.batch == 0 || self.m * self.k == 0 {
            return 0;
        }
        (self.batch - 1) * self.batch_stride_a + self.m * self.k
    }

    /// Elements of B the product reads.
    pub fn b_len(&self) -> usize {
        if self.batch == 0 || self.n * self.k == 0 {
            return 0;
        }
        (self.batch - 1) * self.batch_stride_b + self.k * self.n
    }

    /// Elements of C.
    pub fn c_len(&self) -> usize {
        self.batch * self.m * self.n
    }

    /// Floating-point operations of the product (2·b·m·n·k).
    pub fn flops(&self) -> f64 {
        2.0 * self.batch as f64 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

/// `c = alpha · op(a) · op(b) + bias` (see [`GemmShape`]); `c` is overwritten.
///
/// # Panics
/// If a slice is shorter than the shape requires.
pub fn gemm<T: Real>(s: &GemmShape, a: &[T], b: &[T], bias: Option<&[T]>, c: &mut [T]) {
    assert!(a.len() >= s.a_len() && b.len() >= s.b_len() && c.len() >= s.c_len(), "gemm: slices too short for {s:?}");
    if let Some(bias) = bias {
        assert!(bias.len() >= s.n, "gemm: bias shorter than n");
    }
    let alpha = T::of(f64::from(s.alpha));
    for bi in 0..s.batch {
        let cb = &mut c[bi * s.m * s.n..(bi + 1) * s.m * s.n];
        if s.k == 0 {
            cb.iter_mut().for_each(|v| *v = T::zero());
        } else {
            let ab = &a[bi * s.batch_stride_a..][..s.m * s.k];
            let bb = &b[bi * s.batch_stride_b..][..s.k * s.n];
            // (row stride, column stride) of op(A) [m, k] and op(B) [k, n].
            let (rsa, csa) = if s.trans_a { (1, s.m) } else { (s.k, 1) };
            let (rsb, csb) = if s.trans_b { (1, s.k) } else { (s.n, 1) };
            // SAFETY: the slices hold exactly the m·k, k·n and m·n elements these strides reach.
            unsafe {
                T::gemm_raw(
                    s.m,
                    s.k,
                    s.n,
                    alpha,
                    ab.as_ptr(),
                    rsa,
                    csa,
                    bb.as_ptr(),
                    rsb,
                    csb,
                    cb.as_mut_ptr(),
                    s.n as isize,
                )
            };
        }
        if let Some(bias) = bias {
            for row in cb.chunks_exact_mut(s.n.max(1)) {
                row.iter_mut().zip(bias).for_each(|(v, &bv)| *v += bv);
            }
        }
    }
}

/// The textbook triple loop, in f64 accumulation: the oracle for [`gemm`] itself.
pub fn gemm_naive<T: Real>(s: &GemmShape, a: &[T], b: &[T], bias: Option<&[T]>, c: &mut [T]) {
    for bi in 0..s.batch {
        for i in 0..s.m {
            for j in 0..s.n {
                let mut acc = 0.0f64;
                for p in 0..s.k {
                    let av = if s.trans_a {
                        a[bi * s.batch_stride_a + p * s.m + i]
                    } else {
                        a[bi * s.batch_stride_a + i * s.k + p]
                    };
                    let bv = if s.trans_b {
                        b[bi * s.batch_stride_b + j * s.k + p]
                    } else {
                        b[bi * s.batch_stride_b + p * s.n + j]
                    };
                    acc += av.to64() * bv.to64();
                }
                let bias_v = bias.map_or(0.0, |bb| bb[j].to64());
                c[bi * s.m * s.n + i * s.n + j] = T::of(f64::from(s.alpha) * acc + bias_v);
            }
        }
    }
}
