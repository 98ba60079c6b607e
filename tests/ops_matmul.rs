//! GPU GEMM kernels against the CPU twin: every kernel configuration, both transposes,
//! bias, batches with broadcast operands, split-K, awkward shapes; outputs poisoned.
mod common;

use common::*;
use vdd::cpu::gemm::{gemm_naive, GemmShape};
use vdd::device::Gpu;
use vdd::kernels::matmul::{few_rows, plan, plan_for, GemmConfig, Offsets, Texels, SG8_MAX_TM};
use vdd::tensor::ops;
use vdd::{Device, Tensor};

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 17, 33),
    (17, 3, 127),
    (33, 127, 17),
    (127, 33, 64),
    (64, 64, 64),
    (100, 72, 288),
    (5, 24, 512),
    (256, 128, 96),
];

const CONFIGS: &[GemmConfig] = &[
    GemmConfig::Tile { tm: 4, tn: 4, wgx: 8, wgy: 8 },
    GemmConfig::Tile { tm: 1, tn: 1, wgx: 16, wgy: 4 },
    GemmConfig::Tile { tm: 1, tn: 8, wgx: 16, wgy: 1 },
    GemmConfig::Tile { tm: 5, tn: 8, wgx: 32, wgy: 1 },
    GemmConfig::Shared { tm: 4, tn: 4, wgx: 16, wgy: 16, bk: 16 },
    GemmConfig::Shared { tm: 2, tn: 4, wgx: 8, wgy: 8, bk: 8 },
    GemmConfig::Sg8 { tm: 32, tn4: 2, wg: 64, tc: false },
    GemmConfig::Sg8 { tm: 32, tn4: 2, wg: 64, tc: true },
    GemmConfig::Sg8 { tm: 16, tn4: 1, wg: 64, tc: false },
    GemmConfig::Sg8 { tm: 8, tn4: 1, wg: 32, tc: false },
    GemmConfig::Sg8 { tm: 24, tn4: 1, wg: 32, tc: true },
    GemmConfig::Sg8 { tm: 72, tn4: 3, wg: 8, tc: true },
    GemmConfig::Sg8 { tm: 24, tn4: 2, wg: 16, tc: false },
];

struct Case {
    s: GemmShape,
    a: Vec<f32>,
    b: Vec<f32>,
    bias: Option<Vec<f32>>,
}

fn case(
    rng: &mut Rng,
    (m, n, k): (usize, usize, usize),
    batch: usize,
    ta: bool,
    tb: bool,
    bias: bool,
    b_broadcast: bool,
) -> Case {
    let s = GemmShape {
        batch,
        m,
        n,
        k,
        trans_a: ta,
        trans_b: tb,
        batch_stride_a: m * k,
        batch_stride_b: if b_broadcast { 0 } else { k * n },
        alpha: 1.0,
    };
    Case {
        a: rng.vec(s.a_len(), -1.0, 1.0),
        b: rng.vec(s.b_len(), -1.0, 1.0),
        bias: bias.then(|| rng.vec(n, -1.0, 1.0)),
        s,
    }
}

fn reference(c: &Case) -> Vec<f32> {
    let mut out = vec![0f32; c.s.c_len()];
    gemm_naive(&c.s, &c.a, &c.b, c.bias.as_deref(), &mut out);
    out
}

fn run(dev: &Device, cfg: GemmConfig, splits: usize, c: &Case) -> Option<Vec<f32>> {
    let a = Tensor::from_slice(dev, &c.a, &[c.a.len()]).unwrap();
    let b = Tensor::from_slice(dev, &c.b, &[c.b.len()]).unwrap();
    let bias = c.bias.as_ref().map(|v| Tensor::from_slice(dev, v, &[v.len()]).unwrap());
    if !cfg.supports(dev.as_gpu().unwrap(), &c.s, Offsets::default()) {
        return None;
    }
    Some(ops::gemm_with(cfg, splits, &c.s, &a, &b, bias.as_ref()).unwrap().to_vec().unwrap())
}

fn tol(k: usize) -> f64 {
    2e-6 * (k.max(1) as f64).sqrt() * 4.0
}

#[test]
fn every_gemm_kernel_matches_cpu_on_awkward_shapes_and_transposes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(21);
    let mut ran = vec![0usize; CONFIGS.len()];
    for &shape in SHAPES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let c = case(&mut rng, shape, 1, ta, tb, (shape.0 + shape.1) % 2 == 0, false);
            let want = reference(&c);
            for (ci, &cfg) in CONFIGS.iter().enumerate() {
                if let Some(got) = run(&g.dev, cfg, 1, &c) {
                    ran[ci] += 1;
                    assert_close(&format!("{cfg} {shape:?} ta={ta} tb={tb}"), &got, &want, tol(shape.2), 1e-5);
                }
            }
        }
    }
    // Each configuration must have run on a good share of the cases (sg8 needs k, n % 4 == 0).
    for (cfg, n) in CONFIGS.iter().zip(&ran) {
        assert!(*n >= 12, "{cfg} ran on only {n} cases");
    }
}

/// A reduction longer than one invocation may loop (llvmpipe ends an invocation's loops after
/// 65535 iterations in total, silently) is split over k even when asked for one split, so
/// every kernel sums all of k.
#[test]
fn every_gemm_kernel_sums_a_k_longer_than_a_loop_may_run() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(29);
    for ta in [false, true] {
        let c = case(&mut rng, (4, 8, 300_004), 1, ta, false, true, false);
        let want = reference(&c);
        let mut ran = 0;
        for &cfg in CONFIGS {
            if let Some(got) = run(&g.dev, cfg, 1, &c) {
                ran += 1;
                assert_close(&format!("{cfg} k=300004 ta={ta}"), &got, &want, tol(300_004), 1e-5);
            }
        }
        assert!(ran >= 3, "only {ran} kernels ran the long-k product");
    }
}

#[test]
fn batched_gemm_with_broadcast_operand_and_bias_matches_cpu() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(22);
    for &(shape, batch) in &[((3, 17, 33), 4), ((32, 64, 36), 3), ((8, 4, 4), 5)] {
        for b_broadcast in [false, true] {
            let c = case(&mut rng, shape, batch, false, true, true, b_broadcast);
            let want = reference(&c);
            for &cfg in CONFIGS {
                if let Some(got) = run(&g.dev, cfg, 1, &c) {
                    assert_close(
                        &format!("{cfg} batch {batch} broadcast {b_broadcast}"),
                        &got,
                        &want,
                        tol(shape.2),
                        1e-5,
                    );
                }
            }
        }
    }
}

#[test]
fn split_k_sums_partials_and_adds_bias_once() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(23);
    for &(shape, splits) in &[((8, 16, 1000), 3), ((72, 64, 2048), 5), ((4, 8, 64), 16)] {
        let c = case(&mut rng, shape, 2, true, false, true, false);
        let want = reference(&c);
        for &cfg in CONFIGS {
            if let Some(got) = run(&g.dev, cfg, splits, &c) {
                assert_close(&format!("{cfg} split {splits} {shape:?}"), &got, &want, tol(shape.2), 1e-5);
            }
        }
    }
}

#[test]
fn planned_gemm_covers_transformer_shapes() {
    let Some(g) = gpu() else { return };
    let gpu: &Gpu = g.dev.as_gpu().unwrap();
    let mut rng = Rng::new(24);
    // Linear layers of the Avoiding-size student at batch 64 (rows = 64·5), plus backward forms.
    for &(m, n, k, ta, tb) in &[
        (320, 72, 4, false, false),
        (320, 288, 72, false, false),
        (320, 72, 288, false, true),
        (72, 288, 320, true, false),
        (320, 2, 72, false, false),
        (1, 512, 100, false, false),
        (1, 512, 512, false, false),
        (2, 16, 512, false, false),
        (1, 3, 17, true, true),
        (5, 288, 72, false, false),
        (8, 33, 17, true, false),
        (3, 72, 5, false, true),
        // Weight gradients of the teacher's 2-d action layers over 5120 rows (shapes the
        // subgroup kernel cannot run): the general kernel, split along k.
        (72, 2, 5120, true, false),
        (2, 72, 5120, true, false),
    ] {
        let c = case(&mut rng, (m, n, k), 1, ta, tb, !ta, false);
        let (cfg, splits) = plan(gpu, &c.s, Offsets::default());
        if m <= 8 && k < 1024 {
            assert_eq!((cfg, splits), (few_rows(m), 1), "{m} rows run the few-rows tiles");
        }
        if k >= 1024 && matches!(cfg, GemmConfig::Tile { .. }) {
            assert!(splits > 1, "{cfg} for {m}x{n}x{k} sums 5120 terms in one workgroup");
        }
        let got = run(&g.dev, cfg, splits, &c).expect("planned config supports its shape");
        assert_close(&format!("planned {cfg} x{splits} {m}x{n}x{k}"), &got, &reference(&c), tol(k), 1e-5);
    }
}

#[test]
fn matmul_op_matches_cpu_device() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(25);
    let (a, b) = (rng.vec(2 * 3 * 17 * 33, -1.0, 1.0), rng.vec(33 * 5, -1.0, 1.0));
    let ag = Tensor::from_slice(&g.dev, &a, &[2, 3, 17, 33]).unwrap();
    let bg = Tensor::from_slice(&g.dev, &b, &[33, 5]).unwrap();
    let ac = Tensor::from_slice(&Device::Cpu, &a, &[2, 3, 17, 33]).unwrap();
    let bc = Tensor::from_slice(&Device::Cpu, &b, &[33, 5]).unwrap();
    let yg = ops::matmul(&ag, &bg, false, false).unwrap();
    assert_eq!(yg.shape(), &[2, 3, 17, 5]);
    assert_close(
        "matmul broadcast",
        &yg.to_vec().unwrap(),
        &ops::matmul(&ac, &bc, false, false).unwrap().to_vec().unwrap(),
        tol(33),
        1e-5,
    );
}

#[test]
fn mismatched_inner_dimensions_are_a_shape_error() {
    let a = Tensor::zeros(&Device::Cpu, &[3, 4]).unwrap();
    let b = Tensor::zeros(&Device::Cpu, &[5, 6]).unwrap();
    let err = ops::matmul(&a, &b, false, false).unwrap_err();
    assert!(err.to_string().contains("inner dimensions differ"), "{err}");
}

#[test]
fn linear_act_fuses_the_activation_and_matches_the_cpu_device() {
    use vdd::cpu::elementwise::Unary;
    let Some(g) = gpu() else { return };
    let gpu: &Gpu = g.dev.as_gpu().unwrap();
    let mut rng = Rng::new(26);
    // Row vectors, sg8 tiles, the general kernel, and a split-K product (the activation then
    // runs after the reduction).
    let split = GemmShape::new(16, 8, 4096);
    assert!(plan(gpu, &split, Offsets::default()).1 > 1, "the split-K case must plan splits");
    for &(rows, fan_in, fan_out) in &[(1, 17, 33), (3, 72, 288), (5, 100, 512), (127, 33, 17), (16, 4096, 8)] {
        let (x, w, b) =
            (rng.vec(rows * fan_in, -1.0, 1.0), rng.vec(fan_in * fan_out, -0.3, 0.3), rng.vec(fan_out, -1.0, 1.0));
        let on = |dev: &Device| {
            (
                Tensor::from_slice(dev, &x, &[rows, fan_in]).unwrap(),
                Tensor::from_slice(dev, &w, &[fan_in, fan_out]).unwrap(),
                Tensor::from_slice(dev, &b, &[fan_out]).unwrap(),
            )
        };
        let (xc, wc, bc) = on(&Device::Cpu);
        let (xg, wg, bg) = on(&g.dev);
        for act in [Unary::Gelu, Unary::GeluTanh, Unary::Silu, Unary::Relu, Unary::Mish, Unary::Tanh, Unary::Softplus] {
            let want = ops::linear_act(&xc, &wc, Some(&bc), act).unwrap().to_vec().unwrap();
            let unfused = ops::unary(&ops::linear(&xc, &wc, Some(&bc)).unwrap(), act).unwrap().to_vec().unwrap();
            assert_eq!(want, unfused, "the CPU twin is linear then {act:?}");
            let got = ops::linear_act(&xg, &wg, Some(&bg), act).unwrap();
            assert_eq!(got.shape(), &[rows, fan_out]);
            assert_close(
                &format!("linear_act {act:?} {rows}x{fan_in}x{fan_out}"),
                &got.to_vec().unwrap(),
                &want,
                tol(fan_in),
                1e-5,
            );
        }
    }
    let (x, w) = (Tensor::zeros(&Device::Cpu, &[2, 3]).unwrap(), Tensor::zeros(&Device::Cpu, &[3, 4]).unwrap());
    let err = ops::linear_act(&x, &w, None, Unary::AddScalar(1.0)).unwrap_err();
    assert!(err.to_string().contains("only activations fuse"), "{err}");
}

/// Runs `c` with `cfg`, operand A (`mark_a`) or B marked read-mostly; returns the product and
/// the transfers recorded by the call.
fn run_marked(g: &Gpu, dev: &Device, cfg: GemmConfig, c: &Case, mark_a: bool, mark_b: bool) -> (Vec<f32>, u64) {
    let a = Tensor::from_slice(dev, &c.a, &[c.a.len()]).unwrap();
    let b = Tensor::from_slice(dev, &c.b, &[c.b.len()]).unwrap();
    let bias = c.bias.as_ref().map(|v| Tensor::from_slice(dev, v, &[v.len()]).unwrap());
    if mark_a {
        a.mark_read_mostly();
    }
    if mark_b {
        b.mark_read_mostly();
    }
    g.sync().unwrap();
    let before = g.stream_stats().transfers;
    let y = ops::gemm_with(cfg, 1, &c.s, &a, &b, bias.as_ref()).unwrap();
    let transfers = g.stream_stats().transfers - before;
    (y.to_vec().unwrap(), transfers)
}

/// The subgroup kernel has nine 8-row blocks at most: its tallest tile computes every row (both
/// A layouts, plain and transposed output), and a taller one (say from an old tuning cache) is
/// refused, so the planner falls back instead of leaving rows uncomputed.
#[test]
fn sg8_tallest_tile_computes_every_row_and_taller_is_refused() {
    let Some(gg) = gpu() else { return };
    let g = gg.dev.as_gpu().unwrap();
    let mut rng = Rng::new(29);
    for (ta, tc) in [(false, false), (true, false), (false, true), (true, true)] {
        let c = case(&mut rng, (300, 36, 20), 1, ta, false, true, false);
        let tallest = GemmConfig::Sg8 { tm: SG8_MAX_TM, tn4: 1, wg: 16, tc };
        let taller = GemmConfig::Sg8 { tm: SG8_MAX_TM + 8, tn4: 1, wg: 16, tc };
        assert!(!taller.supports(g, &c.s, Offsets::default()), "{taller} accepted");
        let got = run(&gg.dev, tallest, 1, &c).unwrap_or_else(|| panic!("{tallest} refused"));
        assert_close(&format!("{tallest} ta={ta}"), &got, &reference(&c), tol(20), 1e-5);
    }
}

#[test]
fn sg8_reads_a_read_mostly_operand_through_its_texture_mirror() {
    let Some(gg) = gpu() else { return };
    let g = gg.dev.as_gpu().unwrap();
    let mut rng = Rng::new(23);
    let mut ran = 0;
    let configs = [
        GemmConfig::Sg8 { tm: 32, tn4: 2, wg: 64, tc: false },
        GemmConfig::Sg8 { tm: 24, tn4: 1, wg: 32, tc: true },
        GemmConfig::Sg8 { tm: 72, tn4: 3, wg: 8, tc: true },
    ];
    for shape in [(5, 24, 512), (64, 64, 64), (100, 72, 288), (257, 36, 20)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let c = case(&mut rng, shape, 1, ta, tb, shape.0 % 2 == 1, false);
            let want = reference(&c);
            for cfg in configs {
                if !cfg.supports(g, &c.s, Offsets::default()) {
                    continue;
                }
                let (plain, t0) = run_marked(g, &gg.dev, cfg, &c, false, false);
                for (ma, mb) in [(true, false), (false, true)] {
                    let what = format!("{cfg} {shape:?} ta={ta} tb={tb} read-mostly a={ma} b={mb}");
                    let (got, t) = run_marked(g, &gg.dev, cfg, &c, ma, mb);
                    assert_eq!(t, t0 + 1, "{what}: one mirror copy expected");
                    assert_close(&what, &got, &want, tol(shape.2), 1e-5);
                    let same = got.iter().zip(&plain).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{what}: differs from the storage-buffer kernel");
                    ran += 1;
                }
            }
        }
    }
    assert!(ran >= 48, "only {ran} texture-operand cases ran");
}

/// With B fetched as texels (a weight), the planner takes the tile measured fastest for it
/// (32 rows × 2 vec4 at 5120×512×512, where buffer loads favour 64 rows) without transposing.
#[test]
fn planner_takes_fewer_tile_rows_when_b_is_fetched_as_texels() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let s = GemmShape::new(5120, 512, 512);
    let (buf, _) = plan(gpu, &s, Offsets::default());
    let (tex, _) = plan_for(gpu, &s, Offsets::default(), Texels { a: false, b: true });
    let (GemmConfig::Sg8 { tm: t_buf, .. }, GemmConfig::Sg8 { tm: t_tex, tn4, tc, .. }) = (buf, tex) else {
        eprintln!("this adapter prefers another GEMM kernel ({buf}); nothing to check");
        return;
    };
    assert_eq!((t_tex, tn4, tc), (32, 2, false), "texel-B plan {tex}");
    assert!(t_buf > t_tex, "buffer plan {buf}");
}

/// A weight gradient over a long batch (Aᵀ·B, k = 5120, 21 MiB of operands) runs split-K, so
/// each layer of tiles streams a slice that stays in cache; a square product whose operands fit
/// (1024³, 8 MiB) and the same product without the transposed A run in one layer.
#[test]
fn planner_splits_long_transposed_a_products_that_outgrow_the_caches() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let dw = GemmShape { trans_a: true, ..GemmShape::new(512, 512, 5120) };
    let (cfg, splits) = plan(gpu, &dw, Offsets::default());
    if !matches!(cfg, GemmConfig::Sg8 { .. }) {
        eprintln!("this adapter prefers another GEMM kernel ({cfg}); nothing to check");
        return;
    }
    assert!(splits >= 4, "{cfg} with {splits} splits for {dw:?}");
    let square = GemmShape { trans_a: true, ..GemmShape::new(1024, 1024, 1024) };
    assert_eq!(plan(gpu, &square, Offsets::default()).1, 1, "{square:?}");
    assert_eq!(plan(gpu, &GemmShape::new(512, 512, 5120), Offsets::default()).1, 1, "plain A");
}
