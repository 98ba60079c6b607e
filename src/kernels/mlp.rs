//! Launcher of `shaders/mlp/`: a chain of small dense ops on single rows in one dispatch.

use super::elementwise::Span;
use super::{
    grid, launch, plain_or_sg, shader, subgroups_of_8, Cost, Kernel, Source, ENTRY_PLAIN, ENTRY_SG, LINEAR_TEXTURE, R,
    T, W,
};
use crate::cpu::mlp_chain::{ChainOp, ChainPlan, Slot};
use crate::device::Gpu;
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};

const UNARY_OPS: Source = shader!("elementwise/unary_ops.wgsl");

/// The chain kernel (one workgroup per row and part), every invocation loading its inputs.
pub const CHAIN_INFER: Kernel = Kernel {
    source: shader!("mlp/chain_infer.wgsl"),
    includes: &[UNARY_OPS, LINEAR_TEXTURE, ENTRY_PLAIN],
    entry: "main",
    storage: &[R, T, W, W],
    variants: &[&[("SCR", 256), ("OP", 0)], &[("SCR", 2048), ("OP", 0)]],
};

/// The chain kernel with inputs shared through subgroup shuffles (subgroups of ≥ 8).
pub const CHAIN_INFER_SG: Kernel =
    Kernel { includes: &[UNARY_OPS, LINEAR_TEXTURE, ENTRY_SG], entry: "main_sg", ..CHAIN_INFER };

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[CHAIN_INFER, CHAIN_INFER_SG];

/// Ops the params struct has room for.
pub const MAX_OPS: usize = 24;
/// Rows up to which the chain is used (one workgroup, so one core, per row: beyond a couple
/// of rows the batched GEMMs are faster).
pub const MAX_ROWS: usize = 2;
const WG: u32 = 8;
const NONE: u32 = u32::MAX;
/// Workgroups a single row's chain is shared out to ([`split_of`]): lavapipe runs one
/// workgroup per core, and the machines it is tuned on have two.
pub const PARTS: usize = 2;
/// Multiply-adds from which a split is worth a second dispatch and a redundant prefix.
const SPLIT_MIN_MACS: usize = 1 << 16;
/// Kind flag of a Linear computed as per-part sums over the split op's output.
const PARTIAL: u32 = 0x100;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
struct RawOp {
    kind: u32,
    act: u32,
    src: u32,
    dst: u32,
    aux: u32,
    n: u32,
    w: u32,
    b: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    n_ops: u32,
    in_stride: u32,
    in_off: u32,
    in_width: u32,
    out_width: u32,
    parts: u32,
    split: u32,
    stage: u32,
    xw: u32,
    xrow: u32,
    sparts: u32,
    ops: [RawOp; MAX_OPS],
}

/// Scratch floats a pipeline is compiled for (the plan's, rounded up to 256).
fn scratch_define(p: &ChainPlan) -> usize {
    p.scratch.div_ceil(256).max(1) * 256
}

/// An upper bound of the loop iterations one invocation of `chain_infer.wgsl` runs for `p`
/// (without a split): per Linear, its column groups shared out over the WG invocations, each
/// looping over k once per vec4 step (aligned ops, and ⌈k/32⌉ subgroup steps) or four times
/// per value (unaligned ops: single-float weights, column by column; the weights sit at
/// `w_off` + the op's offset in the parameter buffer); per elementwise op and store, its
/// values over WG; a log-softmax three times over its values.
pub fn loop_iterations(p: &ChainPlan, w_off: usize) -> usize {
    let wg = WG as usize;
    let ops: usize = p
        .ops
        .iter()
        .map(|op| match *op {
            ChainOp::Linear { src, dst, w, .. } => {
                let k = src.len;
                let aligned = (w_off + w).is_multiple_of(4) && dst.len.is_multiple_of(4) && src.at.is_multiple_of(4);
                let per_group = if aligned { k / 4 + k.div_ceil(32) + 4 } else { 4 * k + 8 };
                dst.len.div_ceil(4).div_ceil(wg) * per_group + 16
            }
            ChainOp::Map { src, .. } | ChainOp::Add { a: src, .. } | ChainOp::Store { src, .. } => {
                src.len.div_ceil(wg) + 1
            }
            ChainOp::LogSoftmax { v } => 3 * v.len + 1,
        })
        .sum();
    ops + p.scratch.div_ceil(wg) + p.ops.len()
}

/// Whether `gpu` runs the chain of `p` in one dispatch: at most [`MAX_ROWS`] rows and
/// [`MAX_OPS`] ops, the scratch fitting in workgroup memory, and at most
/// [`super::MAX_LOOP_ITERATIONS`] by [`loop_iterations`] (llvmpipe's loop cap) for weights
/// at `w_off` in the parameter buffer.
pub fn supported(gpu: &Gpu, p: &ChainPlan, w_off: usize) -> bool {
    p.rows <= MAX_ROWS
        && p.ops.len() <= MAX_OPS
        && 4 * scratch_define(p) <= gpu.limits().max_compute_workgroup_storage_size as usize
        && loop_iterations(p, w_off) <= super::MAX_LOOP_ITERATIONS
}

/// `v` as a kernel parameter, or an error if it does not fit in `u32`.
fn u(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::invalid("chain_infer", format!("{v} beyond u32")))
}

fn raw(op: &ChainOp, w_off: usize) -> Result<RawOp> {
    let pw = |v: usize| u(v + w_off);
    let code = |a: Option<crate::cpu::elementwise::Unary>| a.map_or(NONE, |a| a.code());
    Ok(match *op {
        ChainOp::Linear { src, dst, w, b, act } => RawOp {
            kind: 0,
            act: code(act),
            src: u(src.at)?,
            dst: u(dst.at)?,
            aux: u(src.len)?,
            n: u(dst.len)?,
            w: pw(w)?,
            b: b.map_or(Ok(NONE), pw)?,
        },
        ChainOp::Map { src, dst, act } => {
            RawOp { kind: 1, act: act.code(), src: u(src.at)?, dst: u(dst.at)?, n: u(src.len)?, ..RawOp::default() }
        }
        ChainOp::Add { a, b, dst } => {
            RawOp { kind: 2, src: u(a.at)?, aux: u(b.at)?, dst: u(dst.at)?, n: u(a.len)?, ..RawOp::default() }
        }
        ChainOp::LogSoftmax { v } => RawOp { kind: 3, src: u(v.at)?, n: u(v.len)?, ..RawOp::default() },
        ChainOp::Store { src, out } => {
            RawOp { kind: 4, src: u(src.at)?, dst: u(out)?, n: u(src.len)?, ..RawOp::default() }
        }
    })
}

/// How a single-row chain is shared out among [`PARTS`] workgroups ([`split_of`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The Linear computed by column groups, one range per part.
    pub op: usize,
    /// The later Linears reading exactly its output (with nothing written over it in between),
    /// computed by each part over its columns of that input and added in stage 2.
    pub partial: Vec<usize>,
}

impl Split {
    /// Floats per row of the exchange buffer: the scratch, then every partial op's sums per part,
    /// each area rounded up to a multiple of 4 (the kernel moves vec4s).
    pub fn exchange_row(&self, p: &ChainPlan) -> usize {
        let sums = self.partial.iter().map(|&j| PARTS * round4(linear_out(&p.ops[j]).map_or(0, |d| d.len)));
        round4(p.scratch) + sums.sum::<usize>()
    }
}

fn round4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn linear_out(op: &ChainOp) -> Option<Slot> {
    match *op {
        ChainOp::Linear { dst, .. } => Some(dst),
        _ => None,
    }
}

/// The scratch an op writes, if any.
fn written(op: &ChainOp) -> Option<Slot> {
    match *op {
        ChainOp::Linear { dst, .. } | ChainOp::Map { dst, .. } | ChainOp::Add { dst, .. } => Some(dst),
        ChainOp::LogSoftmax { v } => Some(v),
        ChainOp::Store { .. } => None,
    }
}

/// How a single-row chain is shared out: the Linear that, with the Linears reading its output,
/// carries the most multiply-adds (the first of equals) is split by its output columns, and
/// those readers by the same columns of their input, so the parts recompute only what comes
/// before it. `None` for plans of several rows (their rows already run in parallel), under
/// `SPLIT_MIN_MACS` multiply-adds, fewer than 2·[`PARTS`] column groups of 4, or nothing after it.
pub fn split_of(p: &ChainPlan) -> Option<Split> {
    if p.rows != 1 {
        return None;
    }
    let macs = |op: &ChainOp| match *op {
        ChainOp::Linear { src, dst, .. } => src.len * dst.len,
        _ => 0,
    };
    let overlap = |a: Slot, b: Slot| a.at < b.at + b.len && b.at < a.at + a.len;
    let mut best: Option<(usize, Split)> = None;
    for (i, op) in p.ops.iter().enumerate() {
        let Some(out) = linear_out(op) else { continue };
        let mut partial = Vec::new();
        for (j, later) in p.ops.iter().enumerate().skip(i + 1) {
            if matches!(later, ChainOp::Linear { src, .. } if *src == out) {
                partial.push(j);
            }
            if written(later).is_some_and(|w| overlap(w, out)) {
                break;
            }
        }
        let total = macs(op) + partial.iter().map(|&j| macs(&p.ops[j])).sum::<usize>();
        let ok = total >= SPLIT_MIN_MACS && out.len.div_ceil(4) >= 2 * PARTS && i + 1 < p.ops.len();
        if ok && best.as_ref().is_none_or(|(t, _)| total > *t) {
            best = Some((total, Split { op: i, partial }));
        }
    }
    best.map(|(_, s)| s)
}

/// Records the chain of `p` over `x` into `y`; `w` is the flat parameter buffer. With a
/// [`split_of`], two dispatches that exchange the scratch and partial sums through `xch` (at
/// least `rows ·` [`Split::exchange_row`] elements; unused otherwise, any buffer but `x`'s and
/// `w`'s).
///
/// # Errors
/// [`Error::InvalidArgument`] for a plan [`supported`] rejects, an activation with
/// parameters, offsets beyond `u32` or an exchange buffer too small; kernel compilation or
/// dispatch errors.
pub fn chain_infer(gpu: &Gpu, p: &ChainPlan, x: Span, w: Span, y: Span, xch: Span) -> Result<()> {
    chain_infer_with(gpu, p, x, w, y, xch, subgroups_of_8(gpu))
}

/// [`chain_infer`] with the kernel chosen: `share` picks the subgroup kernel, otherwise the
/// plain one (for tests of both on one adapter).
///
/// # Errors
/// Those of [`chain_infer`], and [`Error::InvalidArgument`] for `share` on an adapter without
/// subgroups of at least 8.
pub fn chain_infer_with(gpu: &Gpu, p: &ChainPlan, x: Span, w: Span, y: Span, xch: Span, share: bool) -> Result<()> {
    let kernel = plain_or_sg(gpu, "chain_infer", share, &CHAIN_INFER, &CHAIN_INFER_SG)?;
    if !supported(gpu, p, w.off as usize) {
        return Err(Error::invalid(
            "chain_infer",
            format!(
                "{} rows, {} ops, {} scratch floats: not supported by the chain kernel",
                p.rows,
                p.ops.len(),
                p.scratch
            ),
        ));
    }
    if y.off != 0 || xch.off != 0 {
        return Err(Error::invalid("chain_infer", "y and xch must start their buffers"));
    }
    let split = split_of(p);
    let xrow = split.as_ref().map_or(p.scratch, |s| s.exchange_row(p));
    if split.is_some() && xch.buf.size() < 4 * (p.rows * xrow) as u64 {
        return Err(Error::invalid("chain_infer", format!("exchange buffer under {} floats", p.rows * xrow)));
    }
    let mut ops = [RawOp::default(); MAX_OPS];
    let mut flops = 0.0;
    for (dst, op) in ops.iter_mut().zip(&p.ops) {
        let parametric = match op {
            ChainOp::Linear { act, .. } => act.is_some_and(|a| a.params() != [0.0, 0.0]),
            ChainOp::Map { act, .. } => act.params() != [0.0, 0.0],
            _ => false,
        };
        if parametric {
            return Err(Error::invalid("chain_infer", "only parameterless activations run in a chain"));
        }
        if let ChainOp::Linear { src, dst, .. } = op {
            flops += 2.0 * (src.len * dst.len) as f64;
        }
        *dst = raw(op, w.off as usize)?;
    }
    for &j in split.iter().flat_map(|s| &s.partial) {
        ops[j].kind |= PARTIAL;
    }
    let mut params = Params {
        rows: u(p.rows)?,
        n_ops: p.ops.len() as u32,
        in_stride: u(p.in_stride)?,
        in_off: u(p.in_off + x.off as usize)?,
        in_width: u(p.in_width)?,
        out_width: u(p.out_width)?,
        parts: 1,
        split: NONE,
        stage: 0,
        xw: u(round4(p.scratch))?,
        xrow: u(xrow)?,
        sparts: PARTS as u32,
        ops,
    };
    let bytes = 2.0 * flops + (4 * p.rows * (p.in_width + p.out_width)) as f64;
    let cost = Cost { flops: flops * p.rows as f64, bytes };
    let defines = [("SCR", scratch_define(p) as u32), ("OP", 0)];
    let buffers = [x.buf, w.buf, y.buf, xch.buf];
    let run = |params: &Params, groups: usize, cost: Cost| {
        launch(gpu, kernel, &defines, &[("WG", f64::from(WG))], &buffers, params, grid(u(groups)?), cost)
    };
    match split {
        None => run(&params, p.rows, cost),
        Some(sp) => {
            // The profiler charges the whole chain's work to the first stage.
            params.parts = PARTS as u32;
            params.split = sp.op as u32;
            run(&params, p.rows * PARTS, cost)?;
            params.parts = 1;
            params.stage = 1;
            run(&params, p.rows, Cost::default())
        }
    }
}
