//! The autodiff tape and nn layers: finite-difference checks of whole composites (f64 CPU),
//! GPU gradients against CPU gradients, Adam against a hand-computed example, one submission
//! per training step, and a training run matched across devices.
mod common;

use common::*;
use vdd::autodiff::{Tape, Var};
use vdd::cpu::elementwise::Unary;
use vdd::nn::{Adam, AdamConfig, Gpt, GptConfig, Init, Linear, LinearInit, Mlp, ParamBuilder, ParamStore, ResidualMlp};
use vdd::{Device, Tensor};

/// A model: declares parameters, then maps an input to a scalar loss on a tape.
trait Composite {
    fn loss(&self, tape: &Tape, x: &Var) -> vdd::Result<Var>;
}

/// GELU MLP → Mish residual MLP → ReLU MLP (ReLU layers train fused: the derivative comes
/// from the output).
struct MlpNet(Mlp, ResidualMlp, Mlp);
impl Composite for MlpNet {
    fn loss(&self, tape: &Tape, x: &Var) -> vdd::Result<Var> {
        let h = self.0.forward(tape, x)?;
        let h = self.1.forward(tape, &h)?;
        let y = self.2.forward(tape, &h)?;
        let s = tape.unary(&y, Unary::Square)?;
        tape.mean_all(&s)
    }
}

struct AttnNet(Linear, vdd::nn::Block, Linear);
impl Composite for AttnNet {
    fn loss(&self, tape: &Tape, x: &Var) -> vdd::Result<Var> {
        let h = self.0.forward(tape, x)?;
        let h = self.1.forward(tape, &h)?;
        let y = self.2.forward(tape, &h)?;
        let s = tape.unary(&y, Unary::Tanh)?;
        tape.sum_all(&s)
    }
}

struct GptNet(Linear, Gpt, Linear);
impl Composite for GptNet {
    fn loss(&self, tape: &Tape, x: &Var) -> vdd::Result<Var> {
        let h = self.0.forward(tape, x)?;
        let h = self.1.forward(tape, &h)?;
        let y = self.2.forward(tape, &h)?;
        let s = tape.unary(&y, Unary::Square)?;
        tape.mean_all(&s)
    }
}

fn cfg(width: usize, layers: usize, heads: usize, tokens: usize, dropout: f32) -> GptConfig {
    GptConfig {
        width,
        layers,
        heads,
        max_tokens: tokens,
        attn_dropout: dropout,
        resid_dropout: dropout,
        embd_dropout: dropout,
    }
}

fn build(kind: &str, pb: &mut ParamBuilder, din: usize) -> Box<dyn Composite> {
    match kind {
        "mlp" => Box::new(MlpNet(
            Mlp::new(pb, "mlp", din, 7, 2, 5, Unary::Gelu, LinearInit::Torch),
            ResidualMlp::new(pb, "res", 5, 6, 2, 3, Unary::Mish, LinearInit::Orthogonal(1.3)),
            Mlp::new(pb, "relu", 3, 8, 2, 2, Unary::Relu, LinearInit::Torch),
        )),
        "attn" => {
            let c = cfg(8, 1, 2, 4, 0.1);
            Box::new(AttnNet(
                Linear::new(pb, "tok", din, 8, LinearInit::Torch),
                vdd::nn::Block::new(pb, "block", &c),
                Linear::new(pb, "out", 8, 2, LinearInit::Torch),
            ))
        }
        _ => {
            let c = cfg(8, 2, 2, 4, 0.1);
            Box::new(GptNet(
                Linear::new(pb, "tok", din, 8, LinearInit::Torch),
                Gpt::new(pb, "gpt", c).unwrap(),
                Linear::new(pb, "out", 8, 1, LinearInit::Torch),
            ))
        }
    }
}

/// Builds `kind` on `dev`, returns (store, model, input).
fn setup(kind: &str, dev: &Device) -> (ParamStore, Box<dyn Composite>, Tensor) {
    let mut pb = ParamBuilder::new();
    let din = 3;
    let model = build(kind, &mut pb, din);
    let store = pb.build(dev, 17).unwrap();
    let shape: Vec<usize> = if kind == "mlp" { vec![6, din] } else { vec![2, 4, din] };
    let x = Rng::new(5).vec64(shape.iter().product(), -1.0, 1.0);
    (store, model, Tensor::from_f64(dev, &x, &shape).unwrap())
}

fn loss_and_grads(store: &ParamStore, model: &dyn Composite, x: &Tensor) -> (f64, Vec<f64>) {
    let tape = Tape::new(store, true, 99);
    let xv = tape.constant(x.clone());
    let loss = model.loss(&tape, &xv).unwrap();
    let value = loss.value().item().unwrap();
    tape.backward(&loss).unwrap();
    (value, store.flat_grad().to_vec64().unwrap())
}

fn fd_check(kind: &str) {
    let (store, model, x) = setup(kind, &Device::CpuF64);
    let (_, grads) = loss_and_grads(&store, model.as_ref(), &x);
    let p0 = store.values().unwrap();
    let f = |p: &[f64]| -> f64 {
        store.flat().write_f64(p).unwrap();
        let tape = Tape::new(&store, true, 99);
        let xv = tape.constant(x.clone());
        model.loss(&tape, &xv).unwrap().value().item().unwrap()
    };
    let num = numeric_grad(&f, &p0, 1e-6);
    store.flat().write_f64(&p0).unwrap();
    assert_close64(
        &format!("{kind}: tape gradients vs finite differences ({} params)", p0.len()),
        &grads,
        &num,
        1e-6,
        1e-5,
    );
    assert!(grads.iter().any(|g| g.abs() > 1e-3), "{kind}: gradients are all ~0");
}

#[test]
fn mlp_and_residual_mlp_gradients_match_finite_differences() {
    fd_check("mlp");
}

#[test]
fn attention_block_with_dropout_gradients_match_finite_differences() {
    fd_check("attn");
}

#[test]
fn two_layer_transformer_gradients_match_finite_differences() {
    fd_check("gpt");
}

#[test]
fn gpu_gradients_match_cpu_gradients_for_every_composite() {
    let Some(g) = gpu() else { return };
    for kind in ["mlp", "attn", "gpt"] {
        let (s64, m64, x64) = setup(kind, &Device::CpuF64);
        let (sg, mg, xg) = setup(kind, &g.dev);
        let (l64, g64) = loss_and_grads(&s64, m64.as_ref(), &x64);
        let (lg, gg) = loss_and_grads(&sg, mg.as_ref(), &xg);
        let norm = g64.iter().map(|v| v * v).sum::<f64>().sqrt();
        let err = g64.iter().zip(&gg).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        assert!((l64 - lg).abs() <= 1e-5 * l64.abs().max(1e-3), "{kind}: loss {lg} on GPU vs {l64} on CPU");
        assert!(err / norm <= 1e-4, "{kind}: GPU gradient relative error {:.2e} (‖g‖ = {norm:.3e})", err / norm);
    }
}

#[test]
fn adam_matches_a_hand_computed_two_step_example() {
    // p0 = [1, -2], constant gradient g = [0.5, -0.25], lr 0.1, β = (0.9, 0.999), eps 1e-8.
    // Step 1: m = 0.1g, v = 0.001g², m̂ = g, v̂ = g² → p -= 0.1·g/(|g| + 1e-8) ≈ p − 0.1·sign(g).
    // Step 2: m = 0.19g, v = 0.001999g², m̂ = g, v̂ = g² → the same move again.
    let want = [1.0 - 0.2 * (0.5 / (0.5 + 1e-8)), -2.0 + 0.2 * (0.25 / (0.25 + 1e-8))];
    let mut devices = vec![Device::Cpu, Device::CpuF64];
    let guard = gpu();
    if let Some(g) = &guard {
        devices.push(g.dev.clone());
    }
    for dev in devices {
        let mut pb = ParamBuilder::new();
        let id = pb.add("p", &[2], Init::Zeros);
        let store = pb.build(&dev, 0).unwrap();
        store.flat().write(&[1.0, -2.0]).unwrap();
        let mut opt = Adam::new(&store, AdamConfig { lr: 0.1, ..AdamConfig::default() }).unwrap();
        for _ in 0..2 {
            store.flat_grad().write(&[0.5, -0.25]).unwrap();
            opt.step(&store, 0.1).unwrap();
        }
        let got = store.tensor(id).to_vec64().unwrap();
        assert_close64(&format!("adam on {}", dev.kind()), &got, &want, 1e-6, 1e-6);
    }
}

/// Sizes with vec4s only, vec4s and a float tail, and floats only (the GPU kernel's two widths).
#[test]
fn adam_with_weight_decay_matches_the_cpu_twin_on_the_gpu() {
    let Some(g) = gpu() else { return };
    for n in [1000, 1003, 3] {
        let run = |dev: &Device| {
            let mut pb = ParamBuilder::new();
            pb.add("p", &[n], Init::Normal(1.0));
            let store = pb.build(dev, 3).unwrap();
            let mut opt = Adam::new(&store, AdamConfig { weight_decay: 0.01, ..AdamConfig::default() }).unwrap();
            let grads = Rng::new(4).vec(n, -1.0, 1.0);
            for t in 0..5 {
                store.flat_grad().write(&grads.iter().map(|v| v * (t as f32 + 1.0)).collect::<Vec<_>>()).unwrap();
                opt.step(&store, 1e-2).unwrap();
            }
            store.flat().to_vec().unwrap()
        };
        assert_close(&format!("adam gpu vs cpu, {n} parameters"), &run(&g.dev), &run(&Device::Cpu), 1e-6, 1e-5);
    }
}

#[test]
fn a_gpu_training_step_is_one_submission() {
    let Some(g) = gpu() else { return };
    let (store, model, x) = setup("gpt", &g.dev);
    let mut opt = Adam::new(&store, AdamConfig::default()).unwrap();
    // Warm up (pipeline compilation), then count.
    for pass in 0..2 {
        g.dev.sync().unwrap();
        let before = g.dev.as_gpu().unwrap().stream_stats().submits;
        let tape = Tape::new(&store, true, pass);
        let xv = tape.constant(x.clone());
        let loss = model.loss(&tape, &xv).unwrap();
        let loss_value = loss.value().clone();
        tape.backward(&loss).unwrap();
        opt.step(&store, 1e-3).unwrap();
        let l = loss_value.item().unwrap();
        assert!(l.is_finite());
        let submits = g.dev.as_gpu().unwrap().stream_stats().submits - before;
        assert_eq!(submits, 1, "forward + backward + Adam + loss read-back must be one submission");
    }
}

/// Toy sequence regression: y_t = mean of x_0..x_t (needs causal attention), 5 tokens.
fn train_curve(dev: &Device, steps: usize) -> Vec<f64> {
    let (b, t) = (32, 5);
    let mut pb = ParamBuilder::new();
    let tok = Linear::new(&mut pb, "tok", 1, 16, LinearInit::Normal(0.3));
    let gpt = Gpt::new(&mut pb, "gpt", cfg(16, 2, 2, t, 0.0)).unwrap();
    let out = Linear::new(&mut pb, "out", 16, 1, LinearInit::Normal(0.02));
    let store = pb.build(dev, 1).unwrap();
    let mut opt = Adam::new(&store, AdamConfig { lr: 3e-3, ..AdamConfig::default() }).unwrap();
    let mut losses = Vec::new();
    for step in 0..steps {
        let xs = Rng::new(1000 + step as u64).vec(b * t, -1.0, 1.0);
        let ys: Vec<f32> =
            xs.chunks(t).flat_map(|s| (0..t).map(move |i| s[..=i].iter().sum::<f32>() / (i + 1) as f32)).collect();
        let tape = Tape::new(&store, true, step as u64);
        let x = tape.constant(Tensor::from_slice(dev, &xs, &[b, t, 1]).unwrap());
        let y = tape.constant(Tensor::from_slice(dev, &ys, &[b, t, 1]).unwrap());
        let h = tok.forward(&tape, &x).unwrap();
        let h = gpt.forward(&tape, &h).unwrap();
        let pred = out.forward(&tape, &h).unwrap();
        let loss = tape.mse(&pred, &y).unwrap();
        let lv = loss.value().clone();
        tape.backward(&loss).unwrap();
        opt.step(&store, 3e-3).unwrap();
        losses.push(lv.item().unwrap());
    }
    losses
}

#[test]
fn small_transformer_learns_a_sequence_task_with_matching_curves_on_both_devices() {
    let steps = 150;
    let cpu = train_curve(&Device::Cpu, steps);
    let start = cpu[..10].iter().sum::<f64>() / 10.0;
    let end = cpu[steps - 10..].iter().sum::<f64>() / 10.0;
    assert!(end < 0.02 && end < 0.2 * start, "CPU training did not learn: loss {start:.4} → {end:.4}");
    let Some(g) = gpu() else { return };
    let gpu = train_curve(&g.dev, steps);
    let gend = gpu[steps - 10..].iter().sum::<f64>() / 10.0;
    assert!(gend < 0.02, "GPU training did not learn: final loss {gend:.4}");
    for (i, (a, b)) in cpu.iter().zip(&gpu).enumerate().take(50) {
        assert!((a - b).abs() <= 1e-3 * a.abs().max(1e-2), "loss curves diverge at step {i}: cpu {a} gpu {b}");
    }
}

#[test]
fn linear_decay_schedule_matches_torch_linear_lr() {
    let s = vdd::nn::LinearDecay::to_zero(1e-3, 100);
    assert_eq!(s.lr(0), 1e-3);
    assert!((s.lr(50) - 5e-4).abs() < 1e-15);
    assert_eq!(s.lr(100), 0.0);
    assert_eq!(s.lr(1000), 0.0, "holds the end factor after total steps");
    let warm = vdd::nn::LinearDecay { base: 2.0, start_factor: 0.5, end_factor: 1.0, total: 10 };
    assert!((warm.lr(5) - 1.5).abs() < 1e-12);
}

#[test]
fn ema_follows_the_closed_form_on_every_device() {
    let mut devices = vec![Device::Cpu];
    let guard = gpu();
    if let Some(g) = &guard {
        devices.push(g.dev.clone());
    }
    for dev in devices {
        // 7 parameters: a vec4 and a 3-float tail on the GPU.
        let s0 = [1.0f32, -2.0, 4.0, 0.5, -1.0, 3.0, 2.0];
        let mut pb = ParamBuilder::new();
        pb.add("p", &[7], Init::Zeros);
        let store = pb.build(&dev, 0).unwrap();
        store.flat().write(&s0).unwrap();
        let mut ema = vdd::nn::Ema::new(&store, 0.9).unwrap();
        store.flat().write(&[0.0; 7]).unwrap();
        for _ in 0..5 {
            ema.update(&store).unwrap();
        }
        // shadow_k = p + (s0 − p)·Π_t decay_t with p = 0 and the warm-up
        // decay_t = min(0.9, (1 + t)/(10 + t)).
        let k: f64 = (0..5).map(|t| 0.9f64.min((1.0 + t as f64) / (10.0 + t as f64))).product();
        assert_close64(
            &format!("ema on {}", dev.kind()),
            &ema.values().to_vec64().unwrap(),
            &s0.map(|v| f64::from(v) * k),
            1e-6,
            1e-5,
        );
    }
}

#[test]
fn dropout_is_off_in_eval_and_seeded_in_training() {
    let mut pb = ParamBuilder::new();
    let gpt = Gpt::new(&mut pb, "gpt", cfg(8, 1, 2, 4, 0.5)).unwrap();
    let store = pb.build(&Device::Cpu, 3).unwrap();
    let x = Tensor::from_slice(&Device::Cpu, &Rng::new(9).vec(2 * 4 * 8, -1.0, 1.0), &[2, 4, 8]).unwrap();
    let run = |training: bool, seed: u64| {
        let tape = Tape::new(&store, training, seed);
        gpt.forward(&tape, &tape.constant(x.clone())).unwrap().value().to_vec().unwrap()
    };
    assert_eq!(run(false, 1), run(false, 2), "eval mode must not depend on the seed");
    assert_eq!(run(true, 1), run(true, 1), "a seeded training pass must repeat exactly");
    assert_ne!(run(true, 1), run(true, 2), "different seeds must drop different units");
    assert_ne!(run(true, 1), run(false, 1), "training mode must apply dropout");
}

#[test]
fn an_inference_tape_gives_the_eval_forward_and_records_nothing() {
    // Inference tapes fuse each Linear with its activation on the GPU and keep parameters
    // out of the graph; the values must be the eval-mode training tape's (bit-equal on the
    // CPU, where the fused op is the two ops in turn; to rounding on the GPU).
    let guard = gpu();
    let mut devices = vec![Device::Cpu];
    devices.extend(guard.as_ref().map(|g| g.dev.clone()));
    for dev in &devices {
        for kind in ["mlp", "attn", "gpt"] {
            let (store, model, x) = setup(kind, dev);
            let eval = Tape::new(&store, false, 0);
            let want = model.loss(&eval, &eval.constant(x.clone())).unwrap();
            assert!(want.requires_grad(), "an eval tape still records for backward");
            let inf = Tape::inference(&store);
            let got = model.loss(&inf, &inf.constant(x.clone())).unwrap();
            assert!(!got.requires_grad(), "{kind}: an inference tape must not record for backward");
            let (g, w) = (got.value().to_vec().unwrap(), want.value().to_vec().unwrap());
            if matches!(dev, Device::Cpu) {
                assert_eq!(g, w, "{kind} on the CPU");
            } else {
                assert_close(&format!("{kind} inference vs eval on the GPU"), &g, &w, 1e-6, 1e-5);
            }
        }
    }
}

/// A value feeding two linear layers gets the sum of both input gradients; on the GPU the
/// second product adds itself into the first's gradient (shapes large enough for the subgroup
/// kernel). GPU gradients must match the f64 CPU device.
#[test]
fn gradients_summed_inside_products_match_the_cpu() {
    let Some(g) = gpu() else { return };
    let run = |dev: &Device| -> (f64, Vec<f64>) {
        let mut pb = ParamBuilder::new();
        let l0 = Linear::new(&mut pb, "l0", 12, 16, LinearInit::Torch);
        let la = Linear::new(&mut pb, "la", 16, 16, LinearInit::Torch);
        let lb = Linear::new(&mut pb, "lb", 16, 8, LinearInit::Torch);
        let store = pb.build(dev, 3).unwrap();
        let x = Tensor::from_f64(dev, &Rng::new(8).vec64(64 * 12, -1.0, 1.0), &[64, 12]).unwrap();
        let tape = Tape::new(&store, true, 1);
        let h = l0.forward_act(&tape, &tape.constant(x), Unary::Tanh).unwrap();
        let ya = tape.unary(&la.forward(&tape, &h).unwrap(), Unary::Square).unwrap();
        let yb = tape.unary(&lb.forward_act(&tape, &h, Unary::Relu).unwrap(), Unary::Square).unwrap();
        let loss = tape.add(&tape.mean_all(&ya).unwrap(), &tape.mean_all(&yb).unwrap()).unwrap();
        let value = loss.value().item().unwrap();
        tape.backward(&loss).unwrap();
        (value, store.flat_grad().to_vec64().unwrap())
    };
    let (l64, g64) = run(&Device::CpuF64);
    let (lg, gg) = run(&g.dev);
    assert!((l64 - lg).abs() <= 1e-5 * l64.abs(), "loss {lg} on GPU vs {l64}");
    assert_close64("gradients through a shared input", &gg, &g64, 1e-5, 1e-4);
    assert!(g64[..12 * 16].iter().any(|v| v.abs() > 1e-3), "first-layer gradients are all ~0");
}

/// The backbone at the step's width on many rows (the kernels switch to their vec4, split-K
/// and large-tile paths there, and the loss's mean runs over 72 000 values, more than one
/// llvmpipe invocation may loop over): `mse(GPT(x), target)`. The GPU's loss and gradients
/// against the CPU's, per parameter tensor.
#[test]
fn gpu_transformer_gradients_match_cpu_at_the_steps_width() {
    let Some(g) = gpu() else { return };
    let (b, t, w) = (200, 5, 72);
    let run = |dev: &Device| {
        let mut pb = ParamBuilder::new();
        let gpt = Gpt::new(&mut pb, "gpt", cfg(w, 1, 1, t, 0.0)).unwrap();
        let store = pb.build(dev, 0).unwrap();
        let x = Tensor::from_slice(dev, &Rng::new(3).vec(b * t * w, -1.0, 1.0), &[b, t, w]).unwrap();
        let target = Tensor::from_slice(dev, &Rng::new(4).vec(b * t * w, -2.0, 2.0), &[b, t, w]).unwrap();
        let tape = Tape::new(&store, true, 0);
        let xv = tape.constant(x);
        let y = gpt.forward(&tape, &xv).unwrap();
        let loss = tape.mse(&y, &tape.constant(target)).unwrap();
        let lv = loss.value().item().unwrap();
        tape.backward(&loss).unwrap();
        let names: Vec<(String, usize, usize)> =
            store.entries().iter().map(|e| (e.name.clone(), e.offset, e.shape.iter().product())).collect();
        (lv, store.flat_grad().to_vec().unwrap(), names)
    };
    let (lc, gc, names) = run(&Device::Cpu);
    let (lg, gg, _) = run(&g.dev);
    assert!((lc - lg).abs() <= 1e-4 * lc.abs(), "loss {lg} on GPU vs {lc} on CPU");
    // Per tensor, relative to its norm or to 1e-4 of the whole gradient's, whichever is larger
    // (the key bias's gradient is zero in exact arithmetic: softmax ignores a shift per query).
    let total = gc.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
    let mut bad = Vec::new();
    for (name, off, n) in &names {
        let (c, q) = (&gc[*off..off + n], &gg[*off..off + n]);
        let norm = c.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt().max(1e-4 * total);
        let err = c.iter().zip(q).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt();
        if err / norm > 1e-4 {
            bad.push(format!("{name}: rel err {:.2e} (‖g‖ {norm:.2e})", err / norm));
        }
    }
    assert!(bad.is_empty(), "GPU gradients differ from the CPU's: {bad:?}");
}
