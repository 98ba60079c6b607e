//! Launchers of `shaders/copy/`: strided copies and row gathers.

use super::elementwise::Span;
use super::{grid_for, launch, shader, Cost, Kernel, R, W, WIDTHS};
use crate::cpu::copy::{Strided, COPY_RANK};
use crate::device::{Gpu, GpuBuffer};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// Strided block copy (`ACC` 0) or accumulation (`ACC` 1) of floats.
pub const COPY_STRIDED: Kernel = Kernel {
    source: shader!("copy/copy_strided.wgsl"),
    includes: &[WIDTHS[0]],
    entry: "main",
    storage: &[R, W],
    variants: &[&[("VW", 1), ("ACC", 0)], &[("VW", 1), ("ACC", 1)]],
};
/// [`COPY_STRIDED`] one vec4 per invocation, for blocks with a contiguous, 4-aligned last
/// axis (see `vec4_layout`).
pub const COPY_STRIDED_VEC4: Kernel =
    Kernel { includes: &[WIDTHS[2]], variants: &[&[("VW", 4), ("ACC", 0)], &[("VW", 4), ("ACC", 1)]], ..COPY_STRIDED };
/// Row gather.
pub const GATHER_ROWS: Kernel = Kernel {
    source: shader!("copy/gather_rows.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, W],
    variants: &[&[]],
};
/// Row gather backward (deterministic, via the inverse index map).
pub const GATHER_ROWS_BWD: Kernel = Kernel {
    source: shader!("copy/gather_rows_bwd.wgsl"),
    includes: &[],
    entry: "main",
    storage: &[R, R, W],
    variants: &[&[("ACC", 0)], &[("ACC", 1)]],
};

/// Gathered copies of one row [`gather_rows_bwd`] sums per pass (see [`super::LOOP_CAP`]).
pub const GATHER_CHUNK: usize = 16_384;

const _: () = assert!(GATHER_CHUNK < super::LOOP_CAP);

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[COPY_STRIDED, COPY_STRIDED_VEC4, GATHER_ROWS, GATHER_ROWS_BWD];

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CopyParams {
    dims: [u32; 4],
    ss: [u32; 4],
    ds: [u32; 4],
    n: u32,
    s_off: u32,
    d_off: u32,
    pad: u32,
}

/// The copy's parameters in vec4 units, when [`COPY_STRIDED_VEC4`] can run it: the last axis
/// contiguous in both layouts with a length divisible by 4, every other stride and both
/// (absolute) offsets divisible by 4.
fn vec4_layout(p: &CopyParams) -> Option<CopyParams> {
    let aligned = p.dims[3].is_multiple_of(4)
        && p.ss[3] == 1
        && p.ds[3] == 1
        && p.ss[..3].iter().chain(&p.ds[..3]).all(|s| s.is_multiple_of(4))
        && p.s_off.is_multiple_of(4)
        && p.d_off.is_multiple_of(4);
    let div = |v: [u32; 4]| [v[0] / 4, v[1] / 4, v[2] / 4, 1];
    aligned.then(|| CopyParams {
        dims: [p.dims[0], p.dims[1], p.dims[2], p.dims[3] / 4],
        ss: div(p.ss),
        ds: div(p.ds),
        n: p.n / 4,
        s_off: p.s_off / 4,
        d_off: p.d_off / 4,
        pad: 0,
    })
}

/// Records `dst (+)= src` over the 4-D block `dims` with the given strided layouts (element
/// offsets are relative to the spans): one vec4 per invocation when the layouts allow
/// ([`COPY_STRIDED_VEC4`]), else one element.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn copy_strided(
    gpu: &Gpu,
    dims: [usize; COPY_RANK],
    src: Span,
    s: Strided,
    dst: Span,
    d: Strided,
    accumulate: bool,
) -> Result<()> {
    let n: usize = dims.iter().product();
    // Axes of length 1 move to the front (they select nothing), so the last axis is the
    // innermost that varies: a slice of the last axis, framed as [outer, extent, 1], runs
    // along its extent.
    let (mut fd, mut fs, mut fds) = ([1u32; COPY_RANK], [0u32; COPY_RANK], [0u32; COPY_RANK]);
    let mut at = COPY_RANK;
    for i in (0..COPY_RANK).rev().filter(|&i| dims[i] > 1) {
        at -= 1;
        (fd[at], fs[at], fds[at]) = (dims[i] as u32, s.strides[i] as u32, d.strides[i] as u32);
    }
    let p = CopyParams {
        dims: fd,
        ss: fs,
        ds: fds,
        n: n as u32,
        s_off: src.off + s.offset as u32,
        d_off: dst.off + d.offset as u32,
        pad: 0,
    };
    let (kernel, vw, p) = match vec4_layout(&p) {
        Some(p4) => (&COPY_STRIDED_VEC4, 4, p4),
        None => (&COPY_STRIDED, 1, p),
    };
    launch(
        gpu,
        kernel,
        &[("VW", vw), ("ACC", u32::from(accumulate))],
        &[],
        &[src.buf, dst.buf],
        &p,
        grid_for(p.n as usize, 256),
        Cost::elems(n, if accumulate { 3 } else { 2 }, if accumulate { 1.0 } else { 0.0 }),
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GatherParams {
    count: u32,
    n: u32,
    x_off: u32,
    i_off: u32,
    y_off: u32,
    pad: [u32; 3],
}

/// Records `y[i, :] = x[idx[i], :]` for `count` indices in the u32 buffer `idx`.
///
/// # Errors
/// Kernel compilation or dispatch errors.
pub fn gather_rows(gpu: &Gpu, count: usize, n: usize, x: Span, idx: &GpuBuffer, y: Span) -> Result<()> {
    let p = GatherParams { count: count as u32, n: n as u32, x_off: x.off, i_off: 0, y_off: y.off, pad: [0; 3] };
    launch(
        gpu,
        &GATHER_ROWS,
        &[],
        &[],
        &[x.buf, idx, y.buf],
        &p,
        grid_for(count * n, 256),
        Cost::elems(count * n, 2, 0.0),
    )
}

/// Records `dx[r, :] = Σ_{idx[i]=r} dy[i, :]` with `inv` = CSR inverse map
/// (`rows + 1` starts, then the index list); `most` is the largest number of gathered copies
/// of one row (rows gathered more than [`GATHER_CHUNK`] times are summed in several passes).
///
/// # Errors
/// Kernel compilation or dispatch errors.
#[allow(clippy::too_many_arguments)]
pub fn gather_rows_bwd(
    gpu: &Gpu,
    rows: usize,
    n: usize,
    most: usize,
    dy: Span,
    inv: &GpuBuffer,
    dx: Span,
) -> Result<()> {
    #[repr(C)]
    #[derive(Clone, Copy, Pod, Zeroable)]
    struct P {
        rows: u32,
        n: u32,
        dy_off: u32,
        dx_off: u32,
        lo: u32,
        len: u32,
        pad: [u32; 2],
    }
    for pass in 0..most.div_ceil(GATHER_CHUNK).max(1) {
        let lo = (pass * GATHER_CHUNK) as u32;
        let p = P {
            rows: rows as u32,
            n: n as u32,
            dy_off: dy.off,
            dx_off: dx.off,
            lo,
            len: GATHER_CHUNK as u32,
            pad: [0; 2],
        };
        launch(
            gpu,
            &GATHER_ROWS_BWD,
            &[("ACC", u32::from(pass > 0))],
            &[],
            &[dy.buf, inv, dx.buf],
            &p,
            grid_for(rows * n, 256),
            Cost::elems(rows * n, 2, 1.0),
        )?;
    }
    Ok(())
}
