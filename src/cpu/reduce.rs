//! Reductions over the last dimension, softmax / log-softmax, and sums over leading dimensions
//! (CPU twins of `shaders/reduce/`).
//!
//! # Shapes
//! Row ops see the input as `[rows, n]`: reductions write `[rows]`, softmaxes `[rows, n]`.
//! [`sum_leading`] sees it as `[rows, n]` and writes `[n]`.

use super::Real;

/// A reduction of each row to one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// `Σ x`
    Sum,
    /// `Σ x / n`
    Mean,
    /// `max x` (gradient goes to the first maximum)
    Max,
    /// `log Σ eˣ`, computed stably
    LogSumExp,
}

impl Reduce {
    /// Op selector of the GPU kernel.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Every reduction.
    pub const ALL: [Reduce; 4] = [Reduce::Sum, Reduce::Mean, Reduce::Max, Reduce::LogSumExp];
}

/// A row-wise normalisation that keeps the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Softmax {
    /// `eˣ / Σ eˣ`
    Softmax,
    /// `x − log Σ eˣ`
    LogSoftmax,
}

impl Softmax {
    /// Op selector of the GPU kernel.
    pub fn code(self) -> u32 {
        self as u32
    }
}

fn row_max<T: Real>(row: &[T]) -> T {
    row.iter().copied().fold(T::neg_infinity(), T::max)
}

fn row_lse<T: Real>(row: &[T]) -> T {
    let m = row_max(row);
    if m == T::neg_infinity() {
        return m;
    }
    m + row.iter().map(|&x| (x - m).exp()).sum::<T>().ln()
}

/// `y[r] = reduce(x[r, :])`.
pub fn reduce<T: Real>(op: Reduce, x: &[T], n: usize, y: &mut [T]) {
    for (y, row) in y.iter_mut().zip(x.chunks_exact(n.max(1))) {
        *y = match op {
            Reduce::Sum => row.iter().copied().sum(),
            Reduce::Mean => row.iter().copied().sum::<T>() / T::of(n as f64),
            Reduce::Max => row_max(row),
            Reduce::LogSumExp => row_lse(row),
        };
    }
}

/// `dx[r, i] = dy[r] · ∂y[r]/∂x[r, i]`, given `x` and the forward output `y`.
pub fn reduce_bwd<T: Real>(op: Reduce, x: &[T], y: &[T], dy: &[T], n: usize, dx: &mut [T]) {
    for (r, (dxr, xr)) in dx.chunks_exact_mut(n.max(1)).zip(x.chunks_exact(n.max(1))).enumerate() {
        let g = dy[r];
        match op {
            Reduce::Sum => dxr.iter_mut().for_each(|v| *v = g),
            Reduce::Mean => dxr.iter_mut().for_each(|v| *v = g / T::of(n as f64)),
            Reduce::Max => {
                let first = xr.iter().position(|&v| v == y[r]);
                for (i, v) in dxr.iter_mut().enumerate() {
                    *v = if Some(i) == first { g } else { T::zero() };
                }
            }
            Reduce::LogSumExp => {
                for (v, &xv) in dxr.iter_mut().zip(xr) {
                    *v = g * (xv - y[r]).exp();
                }
            }
        }
    }
}

/// Row-wise softmax or log-softmax.
pub fn softmax<T: Real>(op: Softmax, x: &[T], n: usize, y: &mut [T]) {
    for (yr, xr) in y.chunks_exact_mut(n.max(1)).zip(x.chunks_exact(n.max(1))) {
        let lse = row_lse(xr);
        for (y, &x) in yr.iter_mut().zip(xr) {
            *y = match op {
                Softmax::Softmax => (x - lse).exp(),
                Softmax::LogSoftmax => x - lse,
            };
        }
    }
}

/// Gradient of [`softmax`] from its output `y`:
/// softmax `dx = y ⊙ (dy − Σ dy ⊙ y)`; log-softmax `dx = dy − eʸ Σ dy`.
pub fn softmax_bwd<T: Real>(op: Softmax, y: &[T], dy: &[T], n: usize, dx: &mut [T]) {
    let n1 = n.max(1);
    for ((dxr, yr), dyr) in dx.chunks_exact_mut(n1).zip(y.chunks_exact(n1)).zip(dy.chunks_exact(n1)) {
        match op {
            Softmax::Softmax => {
                let dot: T = yr.iter().zip(dyr).map(|(&a, &b)| a * b).sum();
                for ((d, &yv), &g) in dxr.iter_mut().zip(yr).zip(dyr) {
                    *d = yv * (g - dot);
                }
            }
            Softmax::LogSoftmax => {
                let s: T = dyr.iter().copied().sum();
                for ((d, &yv), &g) in dxr.iter_mut().zip(yr).zip(dyr) {
                    *d = g - yv.exp() * s;
                }
            }
        }
    }
}

/// `y[j] = Σ_r x[r, j]` for `x: [rows, n]`.
pub fn sum_leading<T: Real>(x: &[T], n: usize, y: &mut [T]) {
    y.iter_mut().for_each(|v| *v = T::zero());
    for row in x.chunks_exact(n.max(1)) {
        y.iter_mut().zip(row).for_each(|(a, &b)| *a += b);
    }
}
