//! The linear layers of the fast student forward ([`super::fast`]): `y = x·W + b` for a few
//! rows at a time, register-blocked. Batch 1 is compute-bound here (the weights of an
//! Avoiding-size student, 2.5 MB, stream from cache), so the kernel keeps blocks of outputs in
//! vector registers over the whole reduction and reads each weight once per block of rows.
//!
//! Every output is `fma(x[k], W[k, c], …)` accumulated in order k = 0, 1, … from the bias (in
//! the portable path too when the build target has FMA), so a row's result does not depend on
//! the batch it is in.

use crate::error::{Error, Result};
use crate::nn::ParamStore;

/// The shape and values of parameter `name` in a store's flat values.
///
/// # Errors
/// [`Error::InvalidArgument`] if the store has no such parameter.
pub(super) fn param<'a>(vals: &'a [f32], store: &'a ParamStore, name: &str) -> Result<(&'a [usize], &'a [f32])> {
    let id = store.find(name).ok_or_else(|| Error::invalid("fast student", format!("missing parameter {name}")))?;
    let e = &store.entries()[id.index()];
    Ok((&e.shape, &vals[e.offset..e.offset + e.shape.iter().product::<usize>()]))
}

/// Columns per weight panel (two 8-wide vectors).
const NC: usize = 16;

/// `y = x·W + b` with `W: [i, o]`, stored as column panels: panel `p` holds columns
/// `p·NC .. p·NC + NC` as a contiguous `[i, NC]` block (the last one zero-padded), so that a
/// register block streams its weights contiguously.
pub(super) struct Lin {
    w: Vec<f32>,
    b: Vec<f32>,
    pub(super) i: usize,
    pub(super) o: usize,
}

impl Lin {
    /// From row-major `w: [i, o]` and `b: [o]`.
    pub(super) fn new(w: &[f32], b: &[f32], i: usize, o: usize) -> Self {
        let op = o.div_ceil(NC) * NC;
        let mut wp = vec![0.0; i * op];
        for k in 0..i {
            for c in 0..o {
                wp[((c / NC) * i + k) * NC + c % NC] = w[k * o + c];
            }
        }
        let mut bp = vec![0.0; op];
        bp[..o].copy_from_slice(b);
        Lin { w: wp, b: bp, i, o }
    }

    /// The parameters `{name}.w: [i, o]` and `{name}.b` of a store's flat values.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if a parameter is missing.
    pub(super) fn load(vals: &[f32], store: &ParamStore, name: &str) -> Result<Self> {
        let (ws, w) = param(vals, store, &format!("{name}.w"))?;
        let (_, b) = param(vals, store, &format!("{name}.b"))?;
        Ok(Lin::new(w, b, ws[0], ws[1]))
    }

    /// W[k, c] (row-major view of the panels).
    fn at(&self, k: usize, c: usize) -> f32 {
        self.w[((c / NC) * self.i + k) * NC + c % NC]
    }

    /// Concatenates the outputs of several layers over the same input (`[i, Σo]`).
    pub(super) fn concat(parts: &[Lin]) -> Lin {
        let i = parts[0].i;
        let o: usize = parts.iter().map(|p| p.o).sum();
        let mut w = Vec::with_capacity(i * o);
        for k in 0..i {
            parts.iter().for_each(|p| w.extend((0..p.o).map(|c| p.at(k, c))));
        }
        let b: Vec<f32> = parts.iter().flat_map(|p| p.b[..p.o].iter().copied()).collect();
        Lin::new(&w, &b, i, o)
    }

    /// `y[r] = x[r]·W + b` for `rows` rows (`x` has row stride `i`, `y` row stride `o`).
    ///
    /// # Panics
    /// If `x` or `y` is shorter than `rows` rows.
    pub(super) fn apply(&self, x: &[f32], rows: usize, y: &mut [f32]) {
        assert!(x.len() >= rows * self.i && y.len() >= rows * self.o, "fast linear: buffers too short");
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            // SAFETY: the features are present, and the lengths were checked above.
            if has!("avx512f") {
                unsafe { avx512::apply(self, x, rows, y) };
                return;
            }
            if has!("avx2") && has!("fma") {
                unsafe { avx2::apply(self, x, rows, y) };
                return;
            }
        }
        self.apply_portable(x, rows, y);
    }

    /// The reference order of [`Lin::apply`] in plain Rust (also the path without AVX2/FMA).
    fn apply_portable(&self, x: &[f32], rows: usize, y: &mut [f32]) {
        let fma = |a: f32, b: f32, c: f32| if cfg!(target_feature = "fma") { a.mul_add(b, c) } else { a * b + c };
        for r in 0..rows {
            let yr = &mut y[r * self.o..(r + 1) * self.o];
            yr.copy_from_slice(&self.b[..self.o]);
            for k in 0..self.i {
                let xv = x[r * self.i + k];
                for (c, v) in yr.iter_mut().enumerate() {
                    *v = fma(xv, self.at(k, c), *v);
                }
            }
        }
    }
}

/// One x86 vector kernel per instruction set, stamped from the same text: rows in blocks of R
/// with P panels each, so that a block keeps R·P·(NC / lanes) independent accumulator chains.
/// Full blocks are 5 rows (a student's window), so a batch-1 backbone reads its weights once.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_kernel {
    ($name:ident, $feat:literal, $v:ty, $lanes:literal, $load:ident, $store:ident, $set1:ident, $fma:ident,
     $zero:ident, [$(($r:literal, $p:literal)),*], $tail_p:literal) => {
        mod $name {
            use super::{Lin, NC};
            use std::arch::x86_64::*;

            const VPR: usize = NC / $lanes;

            /// # Safety
            /// The CPU has the module's features; `x` and `y` hold `rows` rows.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn apply(l: &Lin, x: &[f32], rows: usize, y: &mut [f32]) {
                let mut r0 = 0;
                while r0 + 5 <= rows {
                    rows_block::<5, $tail_p>(l, x, r0, y);
                    r0 += 5;
                }
                match rows - r0 {
                    $($r => rows_block::<$r, $p>(l, x, r0, y),)*
                    _ => {}
                }
            }

            /// Rows `r0..r0 + R` over every panel, P panels at a time (the rest one at a time).
            #[target_feature(enable = $feat)]
            unsafe fn rows_block<const R: usize, const P: usize>(l: &Lin, x: &[f32], r0: usize, y: &mut [f32]) {
                let panels = l.b.len() / NC;
                let mut p = 0;
                while p + P <= panels {
                    block::<R, P>(l, x, r0, p, y);
                    p += P;
                }
                while p < panels {
                    block::<R, 1>(l, x, r0, p, y);
                    p += 1;
                }
            }

            /// Rows `r0..r0 + R` × panels `p0..p0 + P`.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn block<const R: usize, const P: usize>(l: &Lin, x: &[f32], r0: usize, p0: usize, y: &mut [f32]) {
                let (i, o) = (l.i, l.o);
                let w = l.w.as_ptr().add(p0 * i * NC);
                let xp = x.as_ptr().add(r0 * i);
                let mut acc: [[[$v; VPR]; P]; R] = [[[$zero(); VPR]; P]; R];
                for ar in acc.iter_mut() {
                    for (q, aq) in ar.iter_mut().enumerate() {
                        for (j, a) in aq.iter_mut().enumerate() {
                            *a = $load(l.b.as_ptr().add((p0 + q) * NC + j * $lanes));
                        }
                    }
                }
                for k in 0..i {
                    let mut wv: [[$v; VPR]; P] = [[$zero(); VPR]; P];
                    for (q, wq) in wv.iter_mut().enumerate() {
                        for (j, wj) in wq.iter_mut().enumerate() {
                            *wj = $load(w.add((q * i + k) * NC + j * $lanes));
                        }
                    }
                    for (r, ar) in acc.iter_mut().enumerate() {
                        let xv = $set1(*xp.add(r * i + k));
                        for (aq, wq) in ar.iter_mut().zip(&wv) {
                            for (a, wj) in aq.iter_mut().zip(wq) {
                                *a = $fma(xv, *wj, *a);
                            }
                        }
                    }
                }
                let mut tmp = [0.0f32; NC];
                for (r, ar) in acc.iter().enumerate() {
                    for (q, aq) in ar.iter().enumerate() {
                        let c0 = (p0 + q) * NC;
                        let n = NC.min(o - c0);
                        for (j, a) in aq.iter().enumerate() {
                            $store(tmp.as_mut_ptr().add(j * $lanes), *a);
                        }
                        std::ptr::copy_nonoverlapping(tmp.as_ptr(), y.as_mut_ptr().add((r0 + r) * o + c0), n);
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
x86_kernel!(
    avx512,
    "avx512f",
    __m512,
    16,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_setzero_ps,
    [(1, 8), (2, 4), (3, 2), (4, 2)],
    2
);
#[cfg(target_arch = "x86_64")]
x86_kernel!(
    avx2,
    "avx2,fma",
    __m256,
    8,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_setzero_ps,
    [(1, 4), (2, 2), (3, 1), (4, 1)],
    1
);

#[cfg(test)]
mod tests {
    use super::Lin;

    /// The vector path against the portable one and an f64 triple loop, on awkward shapes.
    #[test]
    fn register_blocked_linear_matches_the_reference_on_awkward_shapes() {
        let mut rng = crate::cpu::rng::HostRng::new(3, 0);
        for (i, o) in [(1, 1), (3, 17), (17, 33), (72, 216), (33, 127), (100, 512), (64, 8)] {
            let w: Vec<f32> = (0..i * o).map(|_| rng.normal() as f32).collect();
            let b: Vec<f32> = (0..o).map(|_| rng.normal() as f32).collect();
            let l = Lin::new(&w, &b, i, o);
            for rows in [1, 2, 3, 4, 5, 11] {
                let x: Vec<f32> = (0..rows * i).map(|_| rng.normal() as f32).collect();
                let (mut y, mut yp) = (vec![f32::NAN; rows * o + 3], vec![f32::NAN; rows * o + 3]);
                l.apply(&x, rows, &mut y);
                l.apply_portable(&x, rows, &mut yp);
                let (mut worst, mut at) = (0.0f64, 0);
                for r in 0..rows {
                    for c in 0..o {
                        let want = f64::from(b[c])
                            + (0..i).map(|k| f64::from(x[r * i + k]) * f64::from(w[k * o + c])).sum::<f64>();
                        let e = (f64::from(y[r * o + c]) - want).abs() / (1.0 + want.abs());
                        if !(e <= worst) {
                            (worst, at) = (e, r * o + c);
                        }
                    }
                }
                assert!(worst <= 1e-5, "i {i} o {o} rows {rows}: max rel error {worst:.2e} at index {at}");
                if cfg!(target_feature = "fma") {
                    assert_eq!(
                        y[..rows * o],
                        yp[..rows * o],
                        "i {i} o {o} rows {rows}: vector and portable paths differ"
                    );
                }
                assert!(y[rows * o..].iter().all(|v| v.is_nan()), "wrote past the last row");
            }
        }
    }
}
