//! The `vdd` command line.

mod cli;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::time::Instant;
use vdd::cpu::gemm::GemmShape;
use vdd::kernels::tuning;
use vdd::tensor::ops;
use vdd::{Device, Tensor};

/// Variational Diffusion Distillation on a hand-written wgpu/WGSL compute engine.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the compute device and check the engine on it: a GPU GEMM against the CPU twin.
    Info {
        /// Device to check: gpu or cpu.
        #[arg(long, default_value = "gpu")]
        device: String,
        /// Print one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
    /// The whole pipeline on the paper's toy: teacher → VDD student → evaluation → figures,
    /// and a teacher-vs-student table of metrics and time per action.
    Demo(cli::demo::Args),
    /// Write scripted Avoiding-2D demonstrations to a dataset file.
    Demos(cli::demos::Args),
    /// Train a diffusion teacher (BESO or DDPM) on samples of an analytic task or on demonstrations.
    Teacher(cli::teacher::Args),
    /// Distil a teacher (or an analytic target's exact score) into a Gaussian-mixture student.
    Distill(cli::distill::Args),
    /// Print the mixture a student predicts at a state (weights, means, covariances).
    Inspect(cli::inspect::Args),
    /// Draw a policy over its 2-D target density (experts with 1σ/2σ ellipses) as a PNG.
    Plot(cli::plot::Args),
    /// Avoiding-2D end to end: demonstrations → teacher → student → rollouts, report, figures.
    Pipeline(cli::pipeline::Args),
    /// Distil one student per number of experts on Avoiding-2D and compare success and entropy.
    Ablate(cli::pipeline::AblateArgs),
    /// Time per action of a policy (student or teacher) at a batch size on a device.
    Bench(cli::bench::Args),
    /// Sample a policy at test states and report distribution metrics against the task.
    Eval(cli::eval::Args),
    /// Write a policy's actions at one state to a CSV file.
    Sample(cli::eval::SampleArgs),
}

fn info(device: &str, json: bool) -> Result<()> {
    let dev = Device::from_name(device).with_context(|| format!("opening device {device:?}"))?;
    println!("device: {}", dev.describe());
    if let Some(g) = dev.as_gpu() {
        println!("{}", g.report());
        println!("gemm kernel: {} ({})", tuning::get(g).gemm, tuning::get(g).source);
    }
    // Self-check: a 512³ product on the device against the CPU twin.
    let (m, n, k) = (512, 512, 512);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
    let run = |d: &Device| -> Result<Vec<f32>> {
        let (at, bt) = (Tensor::from_slice(d, &a, &[m, k])?, Tensor::from_slice(d, &b, &[k, n])?);
        Ok(ops::matmul(&at, &bt, false, false)?.to_vec()?)
    };
    run(&dev)?;
    let start = Instant::now();
    let got = run(&dev)?;
    let secs = start.elapsed().as_secs_f64();
    let want = run(&Device::Cpu)?;
    let err = got.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let gflops = GemmShape::new(m, n, k).flops() / secs / 1e9;
    println!(
        "self-check: {m}x{n}x{k} GEMM max |device − cpu| = {err:.2e}, {gflops:.1} GFLOP/s (incl. upload and read-back)"
    );
    anyhow::ensure!(err < 1e-3, "the device disagrees with the CPU reference (max error {err})");
    if json {
        println!("{}", serde_json::json!({ "device": dev.kind(), "max_abs_err": err, "gflops": gflops }));
    }
    Ok(())
}

fn main() -> Result<()> {
    vdd::cpu::keep_freed_memory();
    match Cli::parse().command {
        Command::Info { device, json } => info(&device, json),
        Command::Demo(a) => cli::demo::run(&a),
        Command::Demos(a) => cli::demos::run(&a),
        Command::Teacher(a) => cli::teacher::run(&a).map(drop),
        Command::Distill(a) => cli::distill::run(&a),
        Command::Eval(a) => cli::eval::run(&a),
        Command::Bench(a) => cli::bench::run(&a),
        Command::Pipeline(a) => cli::pipeline::run(&a),
        Command::Ablate(a) => cli::pipeline::ablate(&a),
        Command::Plot(a) => cli::plot::run(&a),
        Command::Inspect(a) => cli::inspect::run(&a),
        Command::Sample(a) => cli::eval::sample(&a),
    }
}
