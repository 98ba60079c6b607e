//! `peak`: the adapter's measured f32 FMA peak (GFLOP/s), copy bandwidth (GB/s) from a storage
//! buffer and from a buffer's texture mirror, and dispatch latency (µs) — the yardsticks kernels
//! are judged against.

use anyhow::Result;
use clap::Parser;
use std::time::Instant;
use vdd::kernels::probe;

/// Measure FMA peak, copy bandwidth and dispatch latency of the GPU adapter.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// Target seconds per FMA measurement run.
    #[arg(long, default_value_t = 0.25)]
    seconds: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let gpu = tools::open_gpu()?;
    let name = gpu.info().name.clone();
    eprintln!("adapter: {name}");

    let fma = tools::fma_peak(&gpu, args.seconds)?;
    eprintln!("f32 FMA peak     {:8.1} GFLOP/s  ({} vec4 chains per invocation)", fma.gflops, fma.nacc);

    // Copy bandwidth: 64 MiB read + 64 MiB written per copy.
    let vec4s = (64usize << 20) / 16;
    let (src, dst) = (gpu.alloc((vec4s * 16) as u64)?, gpu.alloc((vec4s * 16) as u64)?);
    gpu.zero(&src, 0, (vec4s * 16) as u64)?;
    probe::copy(&gpu, vec4s, &src, &dst)?;
    gpu.sync()?;
    let secs = tools::median_secs(7, || {
        probe::copy(&gpu, vec4s, &src, &dst)?;
        Ok(gpu.sync()?)
    })?;
    let gbps = 2.0 * (vec4s * 16) as f64 / secs / 1e9;
    eprintln!("copy bandwidth   {gbps:8.1} GB/s");

    // The same copy reading through the source's texture mirror (copied once, then reused).
    probe::texture_copy(&gpu, vec4s, &src, &dst)?;
    gpu.sync()?;
    let secs = tools::median_secs(7, || {
        probe::texture_copy(&gpu, vec4s, &src, &dst)?;
        Ok(gpu.sync()?)
    })?;
    let tex_gbps = 2.0 * (vec4s * 16) as f64 / secs / 1e9;
    eprintln!("texture copy     {tex_gbps:8.1} GB/s (reads through a texture mirror)");

    // Latency: one empty dispatch, submitted and waited for; and the cost per dispatch of a
    // long stream of them in one submission.
    let out = gpu.alloc(256)?;
    probe::empty(&gpu, &out)?;
    gpu.sync()?;
    let lat = tools::median_secs(51, || {
        probe::empty(&gpu, &out)?;
        Ok(gpu.sync()?)
    })?;
    let n = 500;
    let start = Instant::now();
    for _ in 0..n {
        probe::empty(&gpu, &out)?;
    }
    gpu.sync()?;
    let per = start.elapsed().as_secs_f64() / f64::from(n);
    eprintln!(
        "dispatch latency {:8.1} µs submit-and-wait, {:.1} µs per dispatch in one submission",
        lat * 1e6,
        per * 1e6
    );

    if args.json {
        let v = serde_json::json!({
            "adapter": name,
            "fma_gflops": fma.gflops,
            "fma_chains": fma.nacc,
            "copy_gbps": gbps,
            "texture_copy_gbps": tex_gbps,
            "dispatch_latency_us": lat * 1e6,
            "dispatch_in_stream_us": per * 1e6,
        });
        println!("{v}");
    }
    Ok(())
}
