//! Data movement: strided copies (slice, concat, transpose, permute) and row gathers
//! (CPU twins of `shaders/copy/`).

use super::Real;

/// Rank of the strided-copy frame.
pub const COPY_RANK: usize = 4;

/// A 4-D strided view: element `(i0, i1, i2, i3)` lives at `offset + Σ i_d · strides[d]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strided {
    /// First element.
    pub offset: usize,
    /// Element strides per dim.
    pub strides: [usize; COPY_RANK],
}

/// Copies (or, with `accumulate`, adds) the `dims`-shaped block `src` into `dst`.
pub fn copy_strided<T: Real>(
    dims: [usize; COPY_RANK],
    src: &[T],
    s: Strided,
    dst: &mut [T],
    d: Strided,
    accumulate: bool,
) {
    for i0 in 0..dims[0] {
        for i1 in 0..dims[1] {
            for i2 in 0..dims[2] {
                for i3 in 0..dims[3] {
                    let si = s.offset + i0 * s.strides[0] + i1 * s.strides[1] + i2 * s.strides[2] + i3 * s.strides[3];
                    let di = d.offset + i0 * d.strides[0] + i1 * d.strides[1] + i2 * d.strides[2] + i3 * d.strides[3];
                    if accumulate {
                        dst[di] += src[si];
                    } else {
                        dst[di] = src[si];
                    }
                }
            }
        }
    }
}

/// `y[i, :] = x[idx[i], :]` for rows of width `n`.
pub fn gather_rows<T: Real>(x: &[T], idx: &[u32], n: usize, y: &mut [T]) {
    for (yr, &r) in y.chunks_exact_mut(n).zip(idx) {
        yr.copy_from_slice(&x[r as usize * n..][..n]);
    }
}

/// Gradient of [`gather_rows`]: `dx[r, :] = Σ_{i: idx[i] = r} dy[i, :]` (in index order).
pub fn gather_rows_bwd<T: Real>(dy: &[T], idx: &[u32], n: usize, dx: &mut [T]) {
    dx.iter_mut().for_each(|v| *v = T::zero());
    for (dyr, &r) in dy.chunks_exact(n).zip(idx) {
        dx[r as usize * n..][..n].iter_mut().zip(dyr).for_each(|(a, &b)| *a += b);
    }
}
