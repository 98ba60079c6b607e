//! The shape-adaptive GEMM plan: which kernel configuration and how many k-splits run one
//! product, from the adapter's tuned preference (see [`crate::kernels::tuning`]) and a wave
//! model of the subgroup kernel's tiles on CPU-like adapters.

use super::{GemmConfig, Offsets};
use crate::cpu::gemm::GemmShape;
use crate::device::Gpu;
use crate::kernels::tuning;

/// Relative throughput of sg8 tile shapes on llvmpipe (medians of tools/ksweep at 1024³,
/// normalised to the best), used to trade tile efficiency against padding and parallelism on
/// small shapes.
fn sg8_efficiency(tm: u32, tn4: u32) -> f64 {
    match (tm, tn4) {
        (64, 2) => 1.0,
        (32, 2) => 0.93,
        (48, 2) | (64, 3) | (72, 3) => 0.88,
        (16, 2) | (32, 3) | (48, 3) | (72, 2) => 0.85,
        (64, 1) | (32, 1) | (48, 1) => 0.82,
        (72, 1) => 0.75,
        (16, 3) => 0.8,
        (16, 1) => 0.66,
        (8, 2) => 0.58,
        _ => 0.45,
    }
}

/// [`sg8_efficiency`] (same scale) when the kernel fetches its B operand as texels (a
/// read-mostly weight): B loads then cost little, and fewer tile rows (fewer accumulators, more
/// B per multiply-add) pay. `ksweep --read-mostly b` at 5120×512×512: TM 32 × 2 vec4 ≈ 66
/// GFLOP/s, TM 64 ≈ 53, against ≈ 50 for the best buffer tile (two runs agreeing); probes at
/// 5120×{72, 288}×{288, 72}: TM 16–32 ahead of 64 as well.
fn sg8_efficiency_texel_b(tm: u32, tn4: u32) -> f64 {
    match (tm, tn4) {
        (32, 2) => 1.2,
        (16, 3) | (64, 2) => 1.05,
        (32, 3) | (48, 2) => 1.0,
        _ => sg8_efficiency(tm, tn4),
    }
}

/// Operand bytes one layer of k-split tiles may stream before a kernel reading its A transposed
/// slows down: such a kernel walks 4 strided k-rows of its A panel per step (the weight
/// gradients Xᵀ·dY over a batch), and once the operands of a layer outgrow the caches every
/// step waits on memory. `ksweep gemm --m 512 --n 512 --k 5120 --trans-a --splits 1,4`
/// (21 MiB of operands): 29–41 GFLOP/s in one layer, 44–50 in four (reduction included);
/// at 1024³ (8 MiB) one layer runs at full speed (48–51).
const STREAM_BYTES: usize = 8 << 20;

/// Tile efficiency left to a transposed-A kernel whose layers stream more than
/// [`STREAM_BYTES`] (the measurements above: ≈ 32 against ≈ 48 GFLOP/s).
const STREAM_PENALTY: f64 = 0.65;

/// Which operands of a product live in read-mostly buffers (the parameters), which the
/// subgroup kernel fetches as texels of their texture mirrors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Texels {
    /// A is read-mostly.
    pub a: bool,
    /// B is read-mostly.
    pub b: bool,
}

/// Whether the adapter runs on the CPU (lavapipe, llvmpipe, WARP): one workgroup per thread.
fn cpu_adapter(gpu: &Gpu) -> bool {
    gpu.info().device_type == wgpu::DeviceType::Cpu
}

/// Number of workgroups the adapter runs at once, for the planner's wave model: the CPU
/// threads on CPU adapters (the count the CPU device queries once), a generous constant on GPUs.
fn parallel_slots(gpu: &Gpu) -> usize {
    if cpu_adapter(gpu) {
        crate::cpu::threads()
    } else {
        64
    }
}

/// Estimated seconds of one sg8 configuration with `splits` k-splits on an adapter running
/// `slots` workgroups at once: waves of padded tiles at the tile's measured efficiency (peak
/// ≈ 25 GFLOP/s per llvmpipe thread; lower for a transposed A streamed from memory, see
/// [`STREAM_BYTES`]), plus the split reduction's traffic (≈ 2 GB/s).
fn sg8_cost(s: &GemmShape, cfg: GemmConfig, splits: usize, slots: usize, texels: Texels) -> f64 {
    let GemmConfig::Sg8 { tm, tn4, tc, .. } = cfg else { return f64::INFINITY };
    // The kernel's B is the product's A when it transposes its output (see the launcher).
    let kernel_b_texels = if tc { texels.a } else { texels.b };
    let efficiency = if kernel_b_texels { sg8_efficiency_texel_b(tm, tn4) } else { sg8_efficiency(tm, tn4) };
    let s = &cfg.kernel_shape(s);
    let streamed = 4 * (s.a_len() + s.b_len()) / splits;
    let efficiency = if s.trans_a && streamed > STREAM_BYTES { efficiency * STREAM_PENALTY } else { efficiency };
    let (bm, bn) = cfg.block();
    let wgs = s.batch * s.m.div_ceil(bm as usize) * s.n.div_ceil(bn as usize) * splits;
    let k_split = s.k.div_ceil(splits).div_ceil(4) * 4;
    let per_wg = 2.0 * f64::from(bm * bn) * k_split as f64 / (25e9 * efficiency);
    let reduce = if splits > 1 { (splits * s.c_len() * 4) as f64 / 2e9 } else { 0.0 };
    wgs.div_ceil(slots) as f64 * per_wg + reduce
}

/// Products with at most this many rows of C per batch entry (acting on a few observation
/// windows: the backbone on 5 tokens, the heads on one row) run [`few_rows`]: the tiled
/// kernels pad them to 32–64 rows. Measured on lavapipe (`ksweep gemm`, times including the
/// submission): 1×512×512 1.1 ms against 5.6–6.1 ms for the best subgroup tiles, 5×288×72
/// 0.31 against 0.61 ms.
pub const FEW_ROWS: usize = 8;

/// Reductions this long run split-K on the subgroup kernel even for few rows (see [`plan`]):
/// the few-rows kernel would sum them in one workgroup. Measured on lavapipe: the 4×72 weight
/// gradient over 5120 rows, 2.9 ms in one workgroup.
pub const LONG_K: usize = 1024;

/// The general kernel shaped for `m ≤ FEW_ROWS` rows: all rows in one invocation, 8 columns
/// per invocation, one row of 32 invocations per workgroup (16 for a single row).
pub fn few_rows(m: usize) -> GemmConfig {
    let m = m.clamp(1, FEW_ROWS) as u32;
    GemmConfig::Tile { tm: m, tn: 8, wgx: if m == 1 { 16 } else { 32 }, wgy: 1 }
}

/// Chooses the kernel configuration and k-splits for one product. With the subgroup kernel
/// preferred, it searches tile rows (8–72), column groups (1–3 vec4), workgroup size, output
/// transposition and split-K with
/// `sg8_cost`; other preferences run as tuned, split when they leave the adapter idle.
/// Products of at most [`FEW_ROWS`] rows run [`few_rows`], unless their reduction is long
/// (k ≥ [`LONG_K`]: the weight gradient of a layer with few inputs, summed over a batch), which
/// the subgroup kernel splits across workgroups instead.
/// Falls back to the general tile kernel when the preferred kernel cannot run the shape.
pub fn plan(gpu: &Gpu, s: &GemmShape, off: Offsets) -> (GemmConfig, usize) {
    plan_for(gpu, s, off, Texels::default())
}

/// [`plan`] for a product whose `texels` operands the subgroup kernel fetches as texels (its
/// tile efficiencies differ then).
pub fn plan_for(gpu: &Gpu, s: &GemmShape, off: Offsets, texels: Texels) -> (GemmConfig, usize) {
    let slots = parallel_slots(gpu);
    if s.m <= FEW_ROWS {
        if s.k < LONG_K {
            return (few_rows(s.m), 1);
        }
        return plan_sg8(gpu, s, off, texels).unwrap_or_else(|| {
            let cfg = few_rows(s.m);
            (cfg, long_k_splits(s, cfg, slots))
        });
    }
    let pref = tuning::get(gpu).gemm;
    // The general kernel, shaped so narrow products do not idle most of each workgroup; on CPU
    // adapters (a workgroup per thread at a time) products with few rows get workgroups short
    // enough to give every thread rows of its own.
    let tn = s.n.next_power_of_two().clamp(1, 4) as u32;
    let wgx = s.n.div_ceil(tn as usize).next_power_of_two().clamp(1, 8) as u32;
    let rows_per_thread = s.m.div_ceil(4).div_ceil(slots).next_power_of_two() as u32;
    let wgy = if cpu_adapter(gpu) { rows_per_thread.clamp(1, 64 / wgx) } else { 64 / wgx };
    let fallback = GemmConfig::Tile { tm: 4, tn, wgx, wgy };
    match pref {
        GemmConfig::Sg8 { .. } if pref.supports(gpu, s, off) => plan_sg8(gpu, s, off, texels).unwrap_or((pref, 1)),
        GemmConfig::Sg8 { .. } => (fallback, long_k_splits(s, fallback, slots)),
        other => {
            let cfg = if other.supports(gpu, s, off) { other } else { fallback };
            let (bm, bn) = cfg.block();
            let wgs = s.batch * s.m.div_ceil(bm as usize) * s.n.div_ceil(bn as usize);
            let splits = if wgs < slots && s.k >= 512 { slots.div_ceil(wgs).min(s.k / 256).max(1) } else { 1 };
            (cfg, splits)
        }
    }
}

/// K-splits for a general-kernel product that leaves the adapter's threads idle on a long
/// reduction (k ≥ [`LONG_K`], fewer than two workgroups per thread): enough for two per thread,
/// each summing ≥ 512 terms. Measured on lavapipe (`kprof teacher-step`): the output layer's
/// weight gradient 72×2 over 5120 rows took 11.5 ms in one 64-invocation workgroup, 2.8 ms in
/// 2 × 2 workgroups of 16 (rows shared out, then k split); the input layer's 2×72 2.3 → 1.1 ms.
fn long_k_splits(s: &GemmShape, cfg: GemmConfig, slots: usize) -> usize {
    let (bm, bn) = cfg.block();
    let wgs = s.batch * s.m.div_ceil(bm as usize) * s.n.div_ceil(bn as usize);
    if s.k >= LONG_K && wgs < 2 * slots {
        (2 * slots).div_ceil(wgs).min(s.k / 512).max(1)
    } else {
        1
    }
}

/// The cheapest subgroup-kernel configuration and k-splits by [`sg8_cost`] (over tile rows
/// 8–72, 1–3 vec4 column groups, workgroups of 8–64, with or without output transposition),
/// or `None` when the adapter prefers another kernel or none can run `s`.
pub(super) fn plan_sg8(gpu: &Gpu, s: &GemmShape, off: Offsets, texels: Texels) -> Option<(GemmConfig, usize)> {
    if !matches!(tuning::get(gpu).gemm, GemmConfig::Sg8 { .. }) {
        return None;
    }
    let slots = parallel_slots(gpu);
    let mut best: Option<(f64, GemmConfig, usize)> = None;
    for t in [8, 16, 24, 32, 48, 64, 72] {
        for n4 in 1..=3 {
            for (wg, tc) in [8, 16, 32, 64].into_iter().flat_map(|wg| [(wg, false), (wg, true)]) {
                let cand = GemmConfig::Sg8 { tm: t, tn4: n4, wg, tc };
                if !cand.supports(gpu, s, off) {
                    continue;
                }
                for splits in [1, 2, 4, 8].into_iter().filter(|&x| x == 1 || s.k >= 256 * x) {
                    let cost = sg8_cost(s, cand, splits, slots, texels);
                    if best.is_none_or(|b| cost < b.0) {
                        best = Some((cost, cand, splits));
                    }
                }
            }
        }
    }
    best.map(|(_, cfg, splits)| (cfg, splits))
}
