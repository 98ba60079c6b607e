//! `kprof`: profiles one training step or one batched action of a model — per-kernel calls, time, share of the step,
//! GFLOP/s and GB/s (GPU timestamp queries; wall-clock per op on the CPU device), the step's
//! median wall time and peak memory, and an optional Chrome trace (open in Perfetto).

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::collections::HashMap;
use std::time::Instant;
use vdd::device::KernelTiming;
use vdd::profile;
use vdd::workloads::{Step, StudentAct, StudentStep, TeacherAct, TeacherStep, TransformerStep};
use vdd::Device;

/// Profile a training step (forward + backward + Adam) or one batched action.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand)]
enum Workload {
    /// A minGPT stack on random `[batch, tokens, width]` inputs, loss mean(y²).
    TransformerStep {
        /// Sequences per batch.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// Tokens per sequence.
        #[arg(long, default_value_t = 5)]
        tokens: usize,
        /// Embedding width.
        #[arg(long, default_value_t = 72)]
        width: usize,
        /// Blocks.
        #[arg(long, default_value_t = 4)]
        layers: usize,
        /// Attention heads.
        #[arg(long, default_value_t = 4)]
        heads: usize,
        #[command(flatten)]
        common: Common,
    },
    /// The Avoiding-size VDD student (4×72 minGPT, 100→512 head, 512×1 mean and Cholesky
    /// heads, 64×2 residual gating) with the PyTorch anchor's proxy loss.
    StudentStep {
        /// Observation windows per batch.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        #[command(flatten)]
        common: Common,
    },
    /// The Avoiding-size DiffusionGPT teacher (BESO: 72 wide, 4 layers, 4 heads, windows of
    /// 5 state/action pairs = 11 tokens) with its denoising loss.
    TeacherStep {
        /// Windows per batch.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        #[command(flatten)]
        common: Common,
    },
    /// One batched action of the Avoiding-size student (the device half of `Student::act`:
    /// backbone, heads at the last position, one output tensor).
    StudentAct {
        /// Observation windows per call.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        #[command(flatten)]
        common: Common,
    },
    /// One batched action of the Avoiding-size teacher (8 Euler-ancestral steps).
    TeacherAct {
        /// Observation windows per call.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    /// Device: gpu or cpu.
    #[arg(long, default_value = "gpu")]
    device: String,
    /// Timed steps (median reported).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Untimed warm-up steps (pipeline compilation, pool warm-up).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Write a Chrome-trace JSON of the profiled step here.
    #[arg(long)]
    trace: Option<String>,
    /// Also list every dispatch of the profiled step (time, GFLOP/s, GB/s).
    #[arg(long)]
    dispatches: bool,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    kernel: String,
    calls: usize,
    total_ms: f64,
    mean_us: f64,
    share: f64,
    gflops: Option<f64>,
    gbps: Option<f64>,
}

fn table(timings: &[KernelTiming]) -> Vec<Row> {
    let mut agg: HashMap<&str, (usize, f64, f64, f64)> = HashMap::new();
    for t in timings {
        let e = agg.entry(&t.label).or_default();
        e.0 += 1;
        e.1 += t.ns();
        e.2 += t.flops;
        e.3 += t.bytes;
    }
    let total: f64 = timings.iter().map(KernelTiming::ns).sum::<f64>().max(1.0);
    let mut rows: Vec<Row> = agg
        .into_iter()
        .map(|(k, (calls, ns, flops, bytes))| Row {
            kernel: k.to_string(),
            calls,
            total_ms: ns / 1e6,
            mean_us: ns / 1e3 / calls as f64,
            share: ns / total,
            gflops: (flops > 0.0).then(|| flops / ns),
            gbps: (bytes > 0.0).then(|| bytes / ns),
        })
        .collect();
    rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    rows
}

fn trace(path: &str, timings: &[KernelTiming]) -> Result<()> {
    let t0 = timings.iter().map(|t| t.start_ns).fold(f64::INFINITY, f64::min);
    let events: Vec<_> = timings
        .iter()
        .map(|t| {
            serde_json::json!({ "name": t.label, "ph": "X", "pid": 1, "tid": 1, "ts": (t.start_ns - t0) / 1e3, "dur": t.ns() / 1e3,
                "args": { "flops": t.flops, "bytes": t.bytes, "variant": t.variant } })
        })
        .collect();
    let doc = serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ms" });
    std::fs::write(path, serde_json::to_string(&doc)?).with_context(|| format!("writing {path}"))
}

/// Reads a step's output (the loss, or the whole action tensor, as acting would) and
/// returns its first value.
fn first(t: &vdd::Tensor) -> Result<f64> {
    Ok(t.to_vec()?.first().copied().map_or(f64::NAN, f64::from))
}

fn run(name: &str, mut w: Box<dyn Step>, c: &Common) -> Result<()> {
    let dev = w.device();
    eprintln!("{name} on {} ({} parameters)", dev.describe(), w.params());
    for _ in 0..c.warmup {
        first(&w.step()?)?;
    }
    let mut times = Vec::new();
    let mut loss = 0.0;
    for _ in 0..c.steps.max(1) {
        let start = Instant::now();
        loss = first(&w.step()?)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let step_ms = sorted[sorted.len() / 2];
    // One profiled step, with the peak memory measured over it.
    let timings = match &dev {
        Device::Gpu(g) => {
            g.reset_peak_memory();
            g.start_profiling()?;
            w.step()?;
            g.stop_profiling()?
        }
        _ => {
            profile::reset_cpu_peak();
            profile::start_cpu_profiling();
            first(&w.step()?)?;
            profile::stop_cpu_profiling()
        }
    };
    let peak_bytes = match &dev {
        Device::Gpu(g) => g.memory().peak_bytes,
        _ => profile::cpu_memory().peak_bytes,
    };
    if c.dispatches {
        println!("{:>5} {:<40} {:>10} {:>12} {:>9} {:>8}  variant", "#", "kernel", "µs", "MFLOP", "GFLOP/s", "GB/s");
        for (i, t) in timings.iter().enumerate() {
            println!(
                "{i:>5} {:<40} {:>10.1} {:>12.2} {:>9.1} {:>8.2}  {}",
                t.label,
                t.ns() / 1e3,
                t.flops / 1e6,
                t.flops / t.ns().max(1.0),
                t.bytes / t.ns().max(1.0),
                t.variant
            );
        }
    }
    let rows = table(&timings);
    let kernel_ms: f64 = timings.iter().map(KernelTiming::ns).sum::<f64>() / 1e6;
    println!(
        "{:<40} {:>6} {:>10} {:>10} {:>7} {:>9} {:>8}",
        "kernel", "calls", "total ms", "mean µs", "share", "GFLOP/s", "GB/s"
    );
    for r in &rows {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
        println!(
            "{:<40} {:>6} {:>10.2} {:>10.1} {:>6.1}% {:>9} {:>8}",
            r.kernel,
            r.calls,
            r.total_ms,
            r.mean_us,
            100.0 * r.share,
            opt(r.gflops),
            opt(r.gbps)
        );
    }
    println!(
        "step: {step_ms:.1} ms median of {} (first output {loss:.4}); profiled step: {} dispatches, {kernel_ms:.1} ms in kernels; peak memory {:.1} MiB",
        times.len(),
        timings.len(),
        peak_bytes as f64 / (1 << 20) as f64
    );
    if let Some(p) = &c.trace {
        trace(p, &timings)?;
        eprintln!("trace written to {p} (open in https://ui.perfetto.dev)");
    }
    if c.json {
        let v = serde_json::json!({
            "workload": name, "device": dev.kind(), "adapter": dev.describe(), "step_ms": step_ms, "step_ms_all": times,
            "peak_bytes": peak_bytes, "params": w.params(), "dispatches": timings.len(), "kernel_ms": kernel_ms, "kernels": rows,
        });
        println!("{v}");
    }
    Ok(())
}

fn main() -> Result<()> {
    vdd::cpu::keep_freed_memory();
    match Cli::parse().workload {
        Workload::TransformerStep { batch, tokens, width, layers, heads, common } => {
            let dev = Device::from_name(&common.device)?;
            run("transformer-step", Box::new(TransformerStep::new(&dev, batch, tokens, width, layers, heads)?), &common)
        }
        Workload::StudentStep { batch, common } => {
            let dev = Device::from_name(&common.device)?;
            run("student-step", Box::new(StudentStep::new(&dev, batch)?), &common)
        }
        Workload::TeacherStep { batch, common } => {
            let dev = Device::from_name(&common.device)?;
            run("teacher-step", Box::new(TeacherStep::new(&dev, batch)?), &common)
        }
        Workload::StudentAct { batch, common } => {
            let dev = Device::from_name(&common.device)?;
            run("student-act", Box::new(StudentAct::new(&dev, batch)?), &common)
        }
        Workload::TeacherAct { batch, common } => {
            let dev = Device::from_name(&common.device)?;
            run("teacher-act", Box::new(TeacherAct::new(&dev, batch)?), &common)
        }
    }
}
