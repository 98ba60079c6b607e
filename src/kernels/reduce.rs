//! Launchers of `shaders/reduce/`: row reductions, softmaxes, and column sums.

use super::elementwise::Span;
use super::{grid_for, launch, shader, Cost, Kernel, R, W};
use crate::cpu::reduce::{Reduce, Softmax};
use crate::device::{Gpu, GpuBuffer};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

const WG: u32 = 64;

const OPS4: [&[(&str, u32)]; 4] = [&[("OP", 0)], &[("OP", 1)], &[("OP", 2)], &[("OP", 3)]];
const OPS2: [&[(&str, u32)]; 2] = [&[("OP", 0)], &[("OP", 1)]];

/// `y[r] = reduce(x[r, :])`.
pub const REDUCE_ROWS: Kernel = Kernel {
    source: shader!("reduce/reduce_rows.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, W],
    variants: &OPS4,
};
/// Gradient of [`REDUCE_ROWS`].
pub const REDUCE_ROWS_BWD: Kernel = Kernel {
    source: shader!("reduce/reduce_rows_bwd.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, R, R, W],
    variants: &OPS4,
};
/// Row softmax / log-softmax.
pub const SOFTMAX: Kernel =
    Kernel { source: shader!("reduce/softmax.wgsl"), includes: &[], entry: "main", storage: &[R, W], variants: &OPS2 };
/// Gradient of [`SOFTMAX`].
pub const SOFTMAX_BWD: Kernel = Kernel {
    source: shader!("reduce/softmax_bwd.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, W],
    variants: &OPS2,
};
/// One pass of a chunked column sum.
pub const SUM_LEADING: Kernel = Kernel {
    source: shader!("reduce/sum_leading.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, W],
    variants: &[&[("ACC", 0)], &[("ACC", 1)]],
};

/// One pass of a chunked column sum, four columns per invocation.
pub const SUM_LEADING_VEC4: Kernel = Kernel {
    source: shader!("reduce/sum_leading_vec4.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, W],
    variants: &[&[("ACC", 0)], &[("ACC", 1)]],
};

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[REDUCE_ROWS, REDUCE_ROWS_BWD, SOFTMAX, SOFTMAX_BWD, SUM_LEADING, SUM_LEADING_VEC4];

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Rows4 {
    rows: u32,
    n: u32,
    off: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Rows8 {
    rows: u32,
    n: u32,
    off: [u32; 6],
}

/// Elements one invocation of the row reductions loops over at most (longer rows are reduced
/// in chunks; see [`super::LOOP_CAP`]). The max backward also loops over a row's chunk maxima.
pub const ROW_CHUNK: usize = 4096;

const _: () = assert!(ROW_CHUNK < super::LOOP_CAP);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    rows: u32,
    n: u32,
    x_off: u32,
    y_off: u32,
    chunk: u32,
    count: u32,
    pad: [u32; 2],
}

/// Chunks of a row of `n` elements (at least one, also for an empty row).
fn row_chunks(n: usize) -> usize {
    n.div_ceil(ROW_CHUNK).max(1)
}

/// Records `y[r] = op(x[r, 0..n])` for `rows` rows: one pass for rows of up to
/// [`ROW_CHUNK`] elements; longer rows reduce their chunks first (sums for a mean, maxima,
/// log-sum-exps), then those partial results, as many passes as needed.
///
/// # Errors
/// Allocation, kernel compilation or dispatch errors.
pub fn reduce_rows(gpu: &Gpu, op: Reduce, rows: usize, n: usize, x: Span, y: Span) -> Result<()> {
    reduce_rows_of(gpu, op, rows, n, n, x, y)
}

/// [`reduce_rows`] with the mean's divisor `count` (the original row length when `x` holds
/// partial sums).
fn reduce_rows_of(gpu: &Gpu, op: Reduce, rows: usize, n: usize, count: usize, x: Span, y: Span) -> Result<()> {
    if n <= ROW_CHUNK {
        return reduce_pass(gpu, op, rows, n, count, x, y);
    }
    let partial = gpu.alloc((rows * row_chunks(n) * 4) as u64)?;
    let part = Span { buf: &partial, off: 0 };
    reduce_pass(gpu, if op == Reduce::Mean { Reduce::Sum } else { op }, rows, n, count, x, part)?;
    reduce_rows_of(gpu, op, rows, row_chunks(n), count, part, y)
}

/// One pass of [`REDUCE_ROWS`]: `y[r, c] = op(x[r, chunk c])` over chunks of [`ROW_CHUNK`].
fn reduce_pass(gpu: &Gpu, op: Reduce, rows: usize, n: usize, count: usize, x: Span, y: Span) -> Result<()> {
    let p = ReduceParams {
        rows: rows as u32,
        n: n as u32,
        x_off: x.off,
        y_off: y.off,
        chunk: ROW_CHUNK as u32,
        count: count as u32,
        pad: [0; 2],
    };
    launch(
        gpu,
        &REDUCE_ROWS,
        &[("OP", op.code())],
        &[],
        &[x.buf, y.buf],
        &p,
        grid_for(rows * row_chunks(n), WG),
        Cost::elems(rows * n, 1, 2.0),
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceBwdParams {
    rows: u32,
    n: u32,
    chunk: u32,
    off: [u32; 5],
}

/// Records the gradient of [`reduce_rows`] (one invocation per chunk of [`ROW_CHUNK`]
/// elements; for the maximum of a longer row, a pass of chunk maxima first tells each chunk
/// whether the row's first maximum lies before it).
///
/// # Errors
/// Allocation, kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn reduce_rows_bwd(
    gpu: &Gpu,
    op: Reduce,
    rows: usize,
    n: usize,
    x: Span,
    y: Span,
    dy: Span,
    dx: Span,
) -> Result<()> {
    let chunks = row_chunks(n);
    let maxima = if op == Reduce::Max && chunks > 1 { Some(gpu.alloc((rows * chunks * 4) as u64)?) } else { None };
    let cm = match &maxima {
        Some(buf) => {
            let cm = Span { buf, off: 0 };
            reduce_pass(gpu, Reduce::Max, rows, n, n, x, cm)?;
            cm
        }
        None => y,
    };
    let p = ReduceBwdParams {
        rows: rows as u32,
        n: n as u32,
        chunk: ROW_CHUNK as u32,
        off: [x.off, y.off, dy.off, dx.off, cm.off],
    };
    launch(
        gpu,
        &REDUCE_ROWS_BWD,
        &[("OP", op.code())],
        &[],
        &[x.buf, y.buf, dy.buf, cm.buf, dx.buf],
        &p,
        grid_for(rows * chunks, WG),
        Cost::elems(rows * n, 2, 2.0),
    )
}

/// Records a row softmax or log-softmax.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for rows longer than [`super::MAX_ROW`]; kernel
/// compilation or dispatch errors.
pub fn softmax(gpu: &Gpu, op: Softmax, rows: usize, n: usize, x: Span, y: Span) -> Result<()> {
    super::check_row("softmax", n)?;
    let p = Rows4 { rows: rows as u32, n: n as u32, off: [x.off, y.off] };
    launch(
        gpu,
        &SOFTMAX,
        &[("OP", op.code())],
        &[],
        &[x.buf, y.buf],
        &p,
        grid_for(rows, WG),
        Cost::elems(rows * n, 2, 5.0),
    )
}

/// Records the gradient of [`softmax`] from its output.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] for rows longer than [`super::MAX_ROW`]; kernel
/// compilation or dispatch errors.
pub fn softmax_bwd(gpu: &Gpu, op: Softmax, rows: usize, n: usize, y: Span, dy: Span, dx: Span) -> Result<()> {
    super::check_row("softmax_bwd", n)?;
    let p = Rows8 { rows: rows as u32, n: n as u32, off: [y.off, dy.off, dx.off, 0, 0, 0] };
    launch(
        gpu,
        &SOFTMAX_BWD,
        &[("OP", op.code())],
        &[],
        &[y.buf, dy.buf, dx.buf],
        &p,
        grid_for(rows, WG),
        Cost::elems(rows * n, 3, 4.0),
    )
}

/// Rows per chunk of one column-sum pass.
const CHUNK: usize = 64;

/// Records `y[j] = Σ_r x[r, j]` for `x: [rows, n]` as a tree of chunked passes
/// (deterministic). Intermediate passes use scratch buffers from the pool.
///
/// # Errors
/// Allocation, kernel compilation or dispatch errors.
pub fn sum_leading(gpu: &Gpu, rows: usize, n: usize, x: Span, y: Span) -> Result<()> {
    sum_leading_into(gpu, rows, n, x, y, false)
}

/// As [`sum_leading`], adding the sums to `y` (`acc`) or overwriting it.
///
/// # Errors
/// As [`sum_leading`].
pub fn sum_leading_into(gpu: &Gpu, rows: usize, n: usize, x: Span, y: Span, acc: bool) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        rows: u32,
        n: u32,
        chunk: u32,
        x_off: u32,
        y_off: u32,
        pad: [u32; 3],
    }
    let mut scratch: Vec<GpuBuffer> = Vec::new();
    let mut rows = rows;
    loop {
        let chunks = rows.div_ceil(CHUNK).max(1);
        let chunk = if chunks == 1 { rows.max(1) } else { CHUNK };
        let fresh = if chunks == 1 { None } else { Some(gpu.alloc((chunks * n * 4) as u64)?) };
        let src = scratch.last().map_or(x, |b| Span { buf: b, off: 0 });
        let dst = fresh.as_ref().map_or(y, |b| Span { buf: b, off: 0 });
        let vec4 = n.is_multiple_of(4) && src.off.is_multiple_of(4) && dst.off.is_multiple_of(4);
        let (kernel, width, div) = if vec4 { (&SUM_LEADING_VEC4, n / 4, 4) } else { (&SUM_LEADING, n, 1) };
        let p = P {
            rows: rows as u32,
            n: width as u32,
            chunk: chunk as u32,
            x_off: src.off / div,
            y_off: dst.off / div,
            pad: [0; 3],
        };
        launch(
            gpu,
            kernel,
            &[("ACC", u32::from(acc && fresh.is_none()))],
            &[],
            &[src.buf, dst.buf],
            &p,
            grid_for(chunks * width, WG),
            Cost::elems(rows * n, 1, 1.0),
        )?;
        match fresh {
            None => return Ok(()),
            Some(b) => scratch.push(b),
        }
        rows = chunks;
    }
}
