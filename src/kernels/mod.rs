//! WGSL kernels: sources, specialisation, and the launchers of each family.
//!
//! A kernel is a `.wgsl` file under `shaders/<family>/`, compiled after the shared prelude
//! (`shaders/common/prelude.wgsl`) and a block of `const` defines chosen by the launcher (things
//! WGSL `override`s cannot express, such as register-array lengths or an op selector).
//! Workgroup and tile sizes that overrides *can* express are pipeline-overridable constants.
//! Pipelines are cached per device under the key `path:entry|defines|overrides`.
//!
//! Each family module holds its launchers (params struct, dispatch size, bindings) and lists
//! its kernels in `KERNELS` with every define combination it can launch, which is what the
//! shader-validation test compiles.

pub mod attention;
pub mod copy;
pub mod diffusion;
pub mod elementwise;
pub mod gaussian;
pub mod layer_norm;
pub mod matmul;
pub mod mlp;
pub mod optim;
pub mod probe;
pub mod reduce;
pub mod rng;
pub mod transformer;
pub mod tuning;

use crate::device::{Access, Dispatch, Gpu, GpuBuffer, PipelineSpecOwned};
use crate::error::{Error, Result};
use bytemuck::Pod;
use std::fmt::Write;

/// A WGSL file shipped with the crate.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// Path below `shaders/`, e.g. `matmul/gemm_reg.wgsl`.
    pub path: &'static str,
    /// The file's text.
    pub text: &'static str,
}

macro_rules! shader {
    ($path:literal) => {
        $crate::kernels::Source {
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $path)),
        }
    };
}
pub(crate) use shader;

/// The shared prelude prepended to every kernel.
pub const PRELUDE: Source = shader!("common/prelude.wgsl");
/// Load-width libraries (`alias V`, `vsum`): 1, 2 and 4 floats per load, for kernels written
/// over `V` with the define `VW` naming the width (attention, strided copies, Adam, EMA).
pub const WIDTHS: [Source; 3] =
    [shader!("common/width1.wgsl"), shader!("common/width2.wgsl"), shader!("common/width4.wgsl")];
/// `tex4`/`tex1`: reading a buffer bound as [`Access::Texture`] (its texture mirror).
pub const LINEAR_TEXTURE: Source = shader!("common/linear_texture.wgsl");
/// Entry point `main` of kernels written as `run(wid, nwg, li, sg)`, without subgroups.
pub const ENTRY_PLAIN: Source = shader!("common/entry_plain.wgsl");
/// Entry point `main_sg` of kernels written as `run(wid, nwg, li, sg)`, sharing values by
/// subgroup shuffles (adapters where [`subgroups_of_8`] holds). A distinct entry name keeps
/// the two variants of a kernel apart in the pipeline cache and the profiler.
pub const ENTRY_SG: Source = shader!("common/entry_sg.wgsl");

/// One entry point of a source file, with the access mode of each storage binding.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// The file.
    pub source: Source,
    /// Function libraries compiled between the prelude and the file.
    pub includes: &'static [Source],
    /// Entry point name.
    pub entry: &'static str,
    /// Storage bindings in order (the uniform params binding follows them).
    pub storage: &'static [Access],
    /// Every define combination launchers use (at least one; validated by the naga test).
    pub variants: &'static [&'static [(&'static str, u32)]],
}

/// Every kernel of every family (for validation and tooling).
pub fn all_kernels() -> Vec<Kernel> {
    [
        attention::KERNELS,
        copy::KERNELS,
        diffusion::KERNELS,
        elementwise::KERNELS,
        gaussian::KERNELS,
        layer_norm::KERNELS,
        matmul::KERNELS,
        mlp::KERNELS,
        optim::KERNELS,
        probe::KERNELS,
        reduce::KERNELS,
        rng::KERNELS,
        transformer::KERNELS,
    ]
    .concat()
}

/// The full WGSL text of kernel `k` specialised with `defines`: prelude, defines, includes,
/// then the kernel's own file.
pub fn compose(k: &Kernel, defines: &[(&str, u32)]) -> String {
    let mut s = String::with_capacity(PRELUDE.text.len() + k.source.text.len() + 64 * defines.len());
    s.push_str(PRELUDE.text);
    s.push_str("\n// ---- defines ----\n");
    for (name, v) in defines {
        let _ = writeln!(s, "const {name}: u32 = {v}u;");
    }
    for src in k.includes.iter().chain(std::iter::once(&k.source)) {
        let _ = writeln!(s, "// ---- {} ----", src.path);
        s.push_str(src.text);
        s.push('\n');
    }
    s
}

fn key(k: &Kernel, defines: &[(&str, u32)], overrides: &[(&str, f64)]) -> String {
    let mut key = format!("{}:{}|", k.source.path, k.entry);
    for (n, v) in defines {
        let _ = write!(key, "{n}={v},");
    }
    key.push('|');
    for (n, v) in overrides {
        let _ = write!(key, "{n}={v},");
    }
    key
}

/// The work of one dispatch, for the profiler's GFLOP/s and GB/s (estimates: unique bytes
/// moved to and from memory, useful floating-point operations).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Floating-point operations.
    pub flops: f64,
    /// Bytes read plus bytes written.
    pub bytes: f64,
}

impl Cost {
    /// `n` elements touched by `arrays` f32 arrays (reads plus writes), ~`flops_per` flops each.
    pub fn elems(n: usize, arrays: usize, flops_per: f64) -> Cost {
        Cost { flops: n as f64 * flops_per, bytes: (4 * n * arrays) as f64 }
    }
}

/// Records one launch of `k` specialised by `defines` and `overrides`.
///
/// # Errors
/// Shader compilation errors on first use of a specialisation, and the dispatch checks of
/// [`Gpu::dispatch`].
pub fn launch<P: Pod>(
    gpu: &Gpu,
    k: &Kernel,
    defines: &[(&str, u32)],
    overrides: &[(&str, f64)],
    buffers: &[&GpuBuffer],
    params: &P,
    workgroups: [u32; 3],
    cost: Cost,
) -> Result<()> {
    let pipeline = gpu.pipeline(&key(k, defines, overrides), || PipelineSpecOwned {
        source: compose(k, defines),
        entry: k.entry.to_string(),
        overrides: overrides.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        storage: k.storage.to_vec(),
        params_size: std::mem::size_of::<P>() as u64,
    })?;
    gpu.dispatch(Dispatch {
        pipeline: &pipeline,
        buffers,
        params: bytemuck::bytes_of(params),
        workgroups,
        flops: cost.flops,
        bytes: cost.bytes,
    })
}

/// Workgroup counts covering `groups` workgroups in a 2-D grid (x ≤ 65535); kernels recover
/// the linear workgroup index as `wid.x + wid.y * nwg.x` (prelude `linear_group`).
pub fn grid(groups: u32) -> [u32; 3] {
    const MAX: u32 = 65535;
    if groups <= MAX {
        [groups, 1, 1]
    } else {
        [MAX, groups.div_ceil(MAX), 1]
    }
}

/// Loop iterations after which llvmpipe (lavapipe) leaves every loop of an invocation: it
/// counts the iterations of all loops together (`LP_MAX_TGSI_LOOP_ITERATIONS`, a guard against
/// hangs) and raises no error, so a kernel that loops longer returns a truncated result. The
/// bounds below, [`reduce::ROW_CHUNK`], [`copy::GATHER_CHUNK`] and the GEMM's k-splits keep
/// every kernel under it.
pub const LOOP_CAP: usize = 65_535;

/// Most loop iterations a fused kernel's invocation may take by its estimate
/// (`transformer::loop_iterations`, `mlp::loop_iterations`; below [`LOOP_CAP`] with a margin
/// for what the estimate leaves out): wider stacks and chains run op by op instead.
pub const MAX_LOOP_ITERATIONS: usize = 50_000;

/// Longest row the per-row kernels (LayerNorm, softmax) take: one invocation loops over its
/// row three times, which must stay under [`LOOP_CAP`].
pub const MAX_ROW: usize = 16384;

const _: () = assert!(MAX_LOOP_ITERATIONS < LOOP_CAP && 3 * MAX_ROW < LOOP_CAP);

/// [`Error::InvalidArgument`] for a row longer than [`MAX_ROW`] in `op`.
pub(crate) fn check_row(op: &'static str, n: usize) -> Result<()> {
    if n > MAX_ROW {
        return Err(Error::invalid(
            op,
            format!("rows of {n} elements; the GPU kernel takes at most {MAX_ROW} (llvmpipe's loop cap)"),
        ));
    }
    Ok(())
}

/// Workgroups of `wg` invocations covering `n` items, as a [`grid`].
pub fn grid_for(n: usize, wg: u32) -> [u32; 3] {
    grid((n as u64).div_ceil(u64::from(wg)) as u32)
}

/// Whether `gpu` has subgroups of at least 8 invocations, a multiple of 8 (the subgroup
/// kernels hand values round within groups of 8 lanes).
pub fn subgroups_of_8(gpu: &Gpu) -> bool {
    let info = gpu.info();
    gpu.features().contains(wgpu::Features::SUBGROUP)
        && info.subgroup_min_size >= 8
        && info.subgroup_min_size.is_multiple_of(8)
}

/// The kernel of a plain / subgroup pair (`run(wid, nwg, li, sg)` kernels with
/// [`ENTRY_PLAIN`] / [`ENTRY_SG`]) that `share` picks.
///
/// # Errors
/// [`Error::InvalidArgument`] (naming `op`) for the subgroup kernel on an adapter without
/// [`subgroups_of_8`].
pub(crate) fn plain_or_sg<'k>(
    gpu: &Gpu,
    op: &'static str,
    share: bool,
    plain: &'k Kernel,
    sg: &'k Kernel,
) -> Result<&'k Kernel> {
    match share {
        false => Ok(plain),
        true if subgroups_of_8(gpu) => Ok(sg),
        true => Err(Error::invalid(op, "the subgroup kernel needs subgroups of at least 8")),
    }
}

/// Storage access shorthands for kernel tables.
pub(crate) const R: Access = Access::Read;
pub(crate) const W: Access = Access::ReadWrite;
pub(crate) const T: Access = Access::Texture;
