//! `gpuinfo`: the adapter report — name, backend, driver, and the limits and features the
//! engine relies on — plus the kernel tuning in effect.

use anyhow::Result;
use clap::Parser;
use vdd::kernels::tuning;

/// Print the GPU adapter report (the adapter chosen by WGPU_BACKEND / WGPU_ADAPTER_NAME /
/// WGPU_POWER_PREF).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let gpu = tools::open_gpu()?;
    let report = gpu.report();
    let tune = tuning::get(&gpu);
    if args.json {
        let v = serde_json::json!({ "adapter": report, "tuning": tune, "tuning_cache": tuning::cache_path(), "shader_checks": gpu.shader_checks() });
        println!("{v}");
    } else {
        println!("{report}");
        println!("tuning       gemm: {} ({})", tune.gemm, tune.source);
        if let Some(p) = tuning::cache_path() {
            println!("tuning cache {}", p.display());
        }
        println!("shader bounds checks: {}", if gpu.shader_checks() { "on" } else { "off" });
    }
    Ok(())
}
