//! Kernel benchmarks: GEMM throughput (reported as Gelem/s = GFLOP/s) at square sizes and at
//! the Avoiding-size model's shapes (rows = 1024·5 student tokens, 1024·11 teacher tokens; on
//! the GPU also with the weight operand fetched as texels, as in training), and
//! bandwidth (GB/s) of the elementwise, reduction and normalisation kernels — on the GPU
//! adapter (WGPU_* variables) and, for GEMM, the CPU device for comparison.
//!
//! Each iteration records the op and waits for it (submit + wait included), so numbers are
//! what a caller sees. `cargo bench --bench kernels`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use vdd::cpu::elementwise::{Binary, Unary};
use vdd::cpu::gemm::GemmShape;
use vdd::cpu::reduce::Softmax;
use vdd::tensor::ops;
use vdd::{Device, Tensor};

fn data(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919) % 2003) as f32 / 2003.0 - 0.5).collect()
}

/// (label, m, n, k, trans_a, trans_b)
const GEMMS: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("square 256", 256, 256, 256, false, false),
    ("square 512", 512, 512, 512, false, false),
    ("square 1024", 1024, 1024, 1024, false, false),
    ("student qkv 5120x72x72", 5120, 72, 72, false, false),
    ("student mlp-up 5120x288x72", 5120, 288, 72, false, false),
    ("student mlp-down 5120x72x288", 5120, 72, 288, false, false),
    ("student head 5120x512x100", 5120, 512, 100, false, false),
    ("student expert 5120x512x512", 5120, 512, 512, false, false),
    ("student dX 5120x288x72 (Bᵀ)", 5120, 72, 288, false, true),
    ("student dW 72x288x5120 (Aᵀ)", 72, 288, 5120, true, false),
    ("teacher mlp-up 11264x288x72", 11264, 288, 72, false, false),
    ("teacher mlp-down 11264x72x288", 11264, 72, 288, false, false),
];

/// GEMMs of `GEMMS`; with `weights_as_texels`, only the model's products whose B is a weight,
/// with B marked read-mostly as the parameters are (the GPU kernel then fetches it through its
/// texture mirror).
fn gemm(c: &mut Criterion, dev: &Device, name: &str, weights_as_texels: bool) {
    let mut g = c.benchmark_group(format!("gemm/{name}"));
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for &(label, m, n, k, ta, tb) in GEMMS {
        if weights_as_texels && (ta || label.starts_with("square")) {
            continue;
        }
        let sa = if ta { [k, m] } else { [m, k] };
        let sb = if tb { [n, k] } else { [k, n] };
        let a = Tensor::from_slice(dev, &data(m * k), &sa).unwrap();
        let b = Tensor::from_slice(dev, &data(k * n), &sb).unwrap();
        if weights_as_texels {
            b.mark_read_mostly();
        }
        g.throughput(Throughput::Elements(GemmShape::new(m, n, k).flops() as u64));
        g.bench_function(BenchmarkId::from_parameter(label), |bench| {
            bench.iter(|| {
                let y = ops::matmul(&a, &b, ta, tb).unwrap();
                dev.sync().unwrap();
                y
            })
        });
    }
    g.finish();
}

fn memory_bound(c: &mut Criterion, dev: &Device) {
    let mut g = c.benchmark_group("memory-bound/gpu");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let (rows, w) = (5120, 288);
    let x = Tensor::from_slice(dev, &data(rows * w), &[rows, w]).unwrap();
    let bias = Tensor::from_slice(dev, &data(w), &[w]).unwrap();
    let gamma = Tensor::from_slice(dev, &vec![1.0; w], &[w]).unwrap();
    let bytes = (rows * w * 4) as u64;
    let mut bench = |label: &str, moved: u64, f: &dyn Fn() -> Tensor| {
        g.throughput(Throughput::Bytes(moved));
        g.bench_function(label, |b| {
            b.iter(|| {
                let y = f();
                dev.sync().unwrap();
                y
            })
        });
    };
    bench("gelu 5120x288", 2 * bytes, &|| ops::unary(&x, Unary::Gelu).unwrap());
    bench("add bias 5120x288 + 288", 2 * bytes, &|| ops::binary(&x, &bias, Binary::Add).unwrap());
    bench("softmax rows 5120x288", 2 * bytes, &|| ops::softmax(&x, Softmax::Softmax).unwrap());
    bench("sum over rows 5120x288", bytes, &|| ops::sum_leading(&x).unwrap());
    bench("layer_norm 5120x288", 2 * bytes, &|| ops::layer_norm(&x, &gamma, &bias, 1e-5).unwrap().0);
    g.finish();
}

fn benches(c: &mut Criterion) {
    match Device::gpu() {
        Ok(dev) => {
            eprintln!("GPU: {}", dev.describe());
            gemm(c, &dev, "gpu", false);
            gemm(c, &dev, "gpu-weights-as-texels", true);
            memory_bound(c, &dev);
        }
        Err(e) => eprintln!("no GPU adapter ({e}); GPU benchmarks skipped"),
    }
    gemm(c, &Device::Cpu, "cpu", false);
}

criterion_group!(kernel_benches, benches);
criterion_main!(kernel_benches);
