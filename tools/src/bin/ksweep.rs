//! `ksweep`: validates every GEMM kernel variant against the CPU twin, sweeps its tile
//! parameters, prints each variant's GFLOP/s, the best one and its fraction of the adapter's
//! measured FMA peak, and remembers the best choice for this adapter (the engine uses it).

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use vdd::cpu::gemm::{gemm, GemmShape};
use vdd::device::Gpu;
use vdd::kernels::matmul::{GemmConfig, Offsets};
use vdd::kernels::tuning::{self, Tuning};
use vdd::tensor::ops;
use vdd::{Device, Tensor};

/// Sweep kernel variants on the GPU adapter.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand)]
enum Op {
    /// Batched GEMM C = op(A)·op(B): every kernel and tile configuration.
    Gemm {
        /// Rows of C.
        #[arg(long, default_value_t = 1024)]
        m: usize,
        /// Columns of C.
        #[arg(long, default_value_t = 1024)]
        n: usize,
        /// Inner dimension.
        #[arg(long, default_value_t = 1024)]
        k: usize,
        /// Products per batch.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// A stored transposed ([k, m]).
        #[arg(long)]
        trans_a: bool,
        /// B stored transposed ([n, k]).
        #[arg(long)]
        trans_b: bool,
        /// Only kernels whose name starts with this (tile, shared, sg8).
        #[arg(long)]
        kernel: Option<String>,
        /// Mark operand `a` or `b` read-mostly, as the parameters are (kernels that can then
        /// read it through its texture mirror do).
        #[arg(long, value_parser = ["a", "b"])]
        read_mostly: Option<String>,
        /// K-split counts to try for every variant (comma-separated): each split product runs
        /// `splits` workgroup layers over slices of k, then sums them (a long k streams less
        /// data per layer, so the layer's tiles share it in cache).
        #[arg(long, value_delimiter = ',', default_value = "1")]
        splits: Vec<usize>,
        /// Timed runs per variant (median reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Do not store the best configuration in the tuning cache.
        #[arg(long)]
        no_save: bool,
        /// Print one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
}

fn candidates() -> Vec<GemmConfig> {
    let mut v = Vec::new();
    for (tm, tn) in [(4, 4), (4, 8), (8, 8), (16, 16)] {
        v.push(GemmConfig::Tile { tm, tn, wgx: 8, wgy: 8 });
    }
    // Row-vector shapes (acting at batch 1): one row per invocation, lanes along columns.
    for (tm, tn, wgx) in
        [(1, 1, 64), (1, 4, 32), (1, 8, 32), (1, 8, 16), (2, 8, 32), (4, 8, 32), (5, 8, 32), (8, 8, 32)]
    {
        v.push(GemmConfig::Tile { tm, tn, wgx, wgy: 1 });
    }
    for (tm, tn, wgx, wgy, bk) in [(4, 4, 16, 16, 16), (4, 4, 8, 8, 16), (8, 8, 8, 8, 8), (8, 4, 16, 8, 16)] {
        v.push(GemmConfig::Shared { tm, tn, wgx, wgy, bk });
    }
    for tc in [false, true] {
        for tm in [16, 32, 48, 64, 72] {
            for tn4 in [1, 2, 3] {
                for wg in [8, 32, 64] {
                    v.push(GemmConfig::Sg8 { tm, tn4, wg, tc });
                }
            }
        }
    }
    v
}

#[derive(serde::Serialize)]
struct Row {
    config: String,
    kernel: GemmConfig,
    splits: usize,
    ms: f64,
    gflops: f64,
    max_abs_err: f64,
    valid: bool,
}

struct Sweep<'a> {
    filter: Option<&'a str>,
    read_mostly: Option<&'a str>,
    splits: &'a [usize],
    reps: usize,
    save: bool,
    json: bool,
}

fn sweep_gemm(dev: &Device, s: GemmShape, o: Sweep) -> Result<()> {
    let Sweep { filter, read_mostly, splits, reps, save, json } = o;
    let gpu: &Gpu = dev.as_gpu().expect("a GPU device");
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    };
    let (a, b) = (rnd(s.a_len()), rnd(s.b_len()));
    let mut want = vec![0f32; s.c_len()];
    gemm(&s, &a, &b, None, &mut want);
    let (at, bt) = (Tensor::from_slice(dev, &a, &[a.len()])?, Tensor::from_slice(dev, &b, &[b.len()])?);
    match read_mostly {
        Some("a") => at.mark_read_mostly(),
        Some("b") => bt.mark_read_mostly(),
        _ => {}
    }
    let tol = 1e-5 * (s.k.max(1) as f64).sqrt() * 4.0;
    let mut rows = Vec::new();
    eprintln!(
        "GEMM {}x{}x{} batch {} trans_a {} trans_b {} read-mostly {} on {}",
        s.m,
        s.n,
        s.k,
        s.batch,
        s.trans_a,
        s.trans_b,
        read_mostly.unwrap_or("none"),
        gpu.info().name
    );
    eprintln!("{:<28} {:>12} {:>10} {:>10}", "variant", "max |err|", "ms", "GFLOP/s");
    for (cfg, split) in candidates().into_iter().flat_map(|c| splits.iter().map(move |&k| (c, k))) {
        let name = if split > 1 { format!("{cfg} k/{split}") } else { cfg.to_string() };
        if filter.is_some_and(|f| !name.starts_with(f)) || !cfg.supports(gpu, &s, Offsets::default()) {
            continue;
        }
        let got = ops::gemm_with(cfg, split, &s, &at, &bt, None)?.to_vec()?;
        let err = got.iter().zip(&want).map(|(x, y)| f64::from((x - y).abs())).fold(0.0, f64::max);
        let valid = err.is_finite() && err <= tol;
        let secs = tools::median_secs(reps, || {
            let c = ops::gemm_with(cfg, split, &s, &at, &bt, None)?;
            drop(c);
            Ok(gpu.sync()?)
        })?;
        let gflops = s.flops() / secs / 1e9;
        eprintln!(
            "{name:<28} {err:>12.2e} {:>10.2} {gflops:>10.1}{}",
            secs * 1e3,
            if valid { "" } else { "  INVALID" }
        );
        rows.push(Row { config: name, kernel: cfg, splits: split, ms: secs * 1e3, gflops, max_abs_err: err, valid });
    }
    let Some(best) = rows.iter().filter(|r| r.valid).max_by(|x, y| x.gflops.total_cmp(&y.gflops)) else {
        bail!("no valid GEMM variant for this shape");
    };
    let invalid: Vec<&str> = rows.iter().filter(|r| !r.valid).map(|r| r.config.as_str()).collect();
    let peak = tools::fma_peak(gpu, 0.2)?;
    let fraction = best.gflops / peak.gflops;
    eprintln!(
        "best: {} at {:.1} GFLOP/s = {:.1} % of the measured FMA peak ({:.1} GFLOP/s)",
        best.config,
        best.gflops,
        100.0 * fraction,
        peak.gflops
    );
    // The tuning cache holds a kernel configuration; the planner chooses k-splits per product,
    // so the best unsplit variant is remembered.
    let unsplit = rows.iter().filter(|r| r.valid && r.splits == 1).max_by(|x, y| x.gflops.total_cmp(&y.gflops));
    let saved = if let (true, true, Some(keep)) = (save, invalid.is_empty(), unsplit) {
        let t = Tuning {
            gemm: keep.kernel,
            source: format!("ksweep gemm {}x{}x{}: {:.1} GFLOP/s", s.m, s.n, s.k, keep.gflops),
        };
        let p = tuning::store(gpu, &t)?;
        eprintln!("remembered for this adapter in {}", p.display());
        Some(p)
    } else {
        None
    };
    if !invalid.is_empty() {
        eprintln!("INVALID variants (not saved): {invalid:?}");
    }
    if json {
        let v = serde_json::json!({
            "op": "gemm", "m": s.m, "n": s.n, "k": s.k, "batch": s.batch,
            "trans_a": s.trans_a, "trans_b": s.trans_b, "read_mostly": read_mostly, "adapter": gpu.info().name,
            "variants": rows, "best": best, "peak_gflops": peak.gflops,
            "peak_fraction": fraction, "saved_to": saved,
        });
        println!("{v}");
    }
    if !invalid.is_empty() {
        bail!("{} variants failed validation against the CPU twin", invalid.len());
    }
    Ok(())
}

fn main() -> Result<()> {
    match Args::parse().op {
        Op::Gemm { m, n, k, batch, trans_a, trans_b, kernel, read_mostly, splits, reps, no_save, json } => {
            let dev = Device::Gpu(tools::open_gpu()?);
            let s = GemmShape {
                batch,
                m,
                n,
                k,
                trans_a,
                trans_b,
                batch_stride_a: m * k,
                batch_stride_b: k * n,
                alpha: 1.0,
            };
            let o = Sweep {
                filter: kernel.as_deref(),
                read_mostly: read_mostly.as_deref(),
                splits: &splits,
                reps,
                save: !no_save,
                json,
            };
            sweep_gemm(&dev, s, o)
        }
    }
}
