//! The fused inference stack (`shaders/transformer/gpt_infer.wgsl`, CPU twin
//! `cpu::transformer::gpt_infer`): the twin against the op-by-op tape on the CPU device, the
//! GPU kernel against the twin on awkward shapes (poisoned outputs), one dispatch per call, and
//! the cases that must keep the op-by-op path (training, gradients, large batches), and the
//! plain and subgroup kernels against each other.
mod common;

use common::*;
use vdd::autodiff::Tape;
use vdd::kernels::transformer::MAX_BATCH;
use vdd::nn::{Gpt, GptConfig, ParamBuilder, ParamStore};
use vdd::{Device, Tensor};

fn cfg(width: usize, layers: usize, heads: usize, max_tokens: usize) -> GptConfig {
    GptConfig { width, layers, heads, max_tokens, attn_dropout: 0.1, resid_dropout: 0.1, embd_dropout: 0.1 }
}

/// A stack on `dev` whose every parameter (LayerNorm gains and shifts, biases included) is
/// random, so no term of the kernel can hide behind an identity initialisation.
fn model(dev: &Device, c: GptConfig, seed: u64) -> (Gpt, ParamStore) {
    let mut pb = ParamBuilder::new();
    let gpt = Gpt::new(&mut pb, "gpt", c).unwrap();
    let store = pb.build(dev, seed).unwrap();
    let n = store.flat().numel();
    store.load(&Rng::new(seed).vec(n, -0.3, 0.3)).unwrap();
    let mut values: Vec<f32> = store.values().unwrap().iter().map(|&v| v as f32).collect();
    for e in store.entries() {
        if e.name.ends_with("gamma") {
            for v in &mut values[e.offset..e.offset + e.shape[0]] {
                *v += 1.0;
            }
        }
    }
    store.load(&values).unwrap();
    (gpt, store)
}

/// `Gpt::forward` (with positions) or `forward_embedded` on an inference tape.
fn run(gpt: &Gpt, store: &ParamStore, x: &[f32], shape: &[usize], with_pos: bool) -> Vec<f32> {
    let dev = store.device();
    let tape = Tape::inference(store);
    let x = tape.constant(Tensor::from_slice(&dev, x, shape).unwrap());
    let y = if with_pos { gpt.forward(&tape, &x) } else { gpt.forward_embedded(&tape, &x) }.unwrap();
    y.value().to_vec().unwrap()
}

#[test]
fn cpu_twin_matches_the_op_by_op_stack() {
    let dev = Device::Cpu;
    for &(b, t, e, h, l) in &[(1, 1, 8, 2, 1), (3, 5, 24, 3, 2), (2, 11, 72, 4, 4)] {
        let (gpt, store) = model(&dev, cfg(e, l, h, 16), 7);
        let x = Rng::new(1).vec(b * t * e, -1.0, 1.0);
        let want = run(&gpt, &store, &x, &[b, t, e], true);
        // The plan the GPU path would build, run through the twin on the CPU device.
        let pos_off = store.entries().iter().find(|en| en.name == "gpt.pos").unwrap().offset;
        let mut xp = x.clone();
        let values: Vec<f32> = store.values().unwrap().iter().map(|&v| v as f32).collect();
        for (i, v) in xp.iter_mut().enumerate() {
            *v += values[pos_off + i % (t * e)];
        }
        let got = run(&gpt, &store, &xp, &[b, t, e], false);
        assert_close(&format!("embedded vs with positions b{b} t{t} e{e}"), &got, &want, 1e-5, 1e-5);
        let plan = plan_of(&store, b, t, e, h, l, Some(pos_off));
        let mut y = vec![f32::NAN; b * t * e];
        vdd::cpu::transformer::gpt_infer(&plan, &x, &values, &mut y);
        assert_close(&format!("twin b{b} t{t} e{e} h{h} l{l}"), &y, &want, 1e-5, 1e-4);
    }
}

/// The plan from the store's names (independently of `Gpt`'s own construction of it).
fn plan_of(
    store: &ParamStore,
    b: usize,
    t: usize,
    e: usize,
    h: usize,
    l: usize,
    pos: Option<usize>,
) -> vdd::cpu::transformer::GptPlan {
    let off = |n: &str| store.entries().iter().find(|en| en.name == n).unwrap_or_else(|| panic!("{n}")).offset;
    let names = [
        "ln1.gamma",
        "ln1.beta",
        "attn.q.w",
        "attn.q.b",
        "attn.k.w",
        "attn.k.b",
        "attn.v.w",
        "attn.v.b",
        "attn.o.w",
        "attn.o.b",
        "ln2.gamma",
        "ln2.beta",
        "up.w",
        "up.b",
        "down.w",
        "down.b",
    ];
    vdd::cpu::transformer::GptPlan {
        batch: b,
        tokens: t,
        width: e,
        heads: h,
        eps: 1e-5,
        tok: None,
        pos,
        blocks: (0..l).map(|i| names.map(|n| off(&format!("gpt.block{i}.{n}")))).collect(),
        ln_f: [off("gpt.ln_f.gamma"), off("gpt.ln_f.beta")],
    }
}

#[test]
fn gpu_fused_stack_matches_the_cpu_twin_in_one_dispatch() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap().clone();
    let shapes =
        [(1, 1, 8, 2, 1), (2, 3, 24, 3, 2), (1, 5, 72, 4, 4), (2, 11, 72, 4, 4), (1, 16, 12, 1, 2), (2, 7, 20, 5, 3)];
    for &(b, t, e, h, l) in &shapes {
        assert!(b <= MAX_BATCH);
        for with_pos in [true, false] {
            let c = cfg(e, l, h, 16);
            let (gpt, store) = model(&g.dev, c, 11);
            let (cgpt, cstore) = model(&Device::Cpu, c, 11);
            let x = Rng::new(5).vec(b * t * e, -1.0, 1.0);
            let want = run(&cgpt, &cstore, &x, &[b, t, e], with_pos);
            gpu.sync().unwrap();
            let before = gpu.stream_stats().dispatches;
            let tape = Tape::inference(&store);
            let xv = tape.constant(Tensor::from_slice(&g.dev, &x, &[b, t, e]).unwrap());
            let y = if with_pos { gpt.forward(&tape, &xv) } else { gpt.forward_embedded(&tape, &xv) }.unwrap();
            assert_eq!(gpu.stream_stats().dispatches - before, 1, "b{b} t{t} e{e}: the whole stack is one dispatch");
            let got = y.value().to_vec().unwrap();
            assert_close(&format!("fused b{b} t{t} e{e} h{h} l{l} pos {with_pos}"), &got, &want, 2e-5, 2e-4);
        }
    }
}

#[test]
fn gpu_keeps_the_op_by_op_stack_when_it_must() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap().clone();
    let (t, e) = (5, 24);
    let (gpt, store) = model(&g.dev, cfg(e, 2, 3, 8), 3);
    let (cgpt, cstore) = model(&Device::Cpu, cfg(e, 2, 3, 8), 3);
    // More sequences than the fused kernel takes: op by op, same values.
    let b = MAX_BATCH + 3;
    let x = Rng::new(9).vec(b * t * e, -1.0, 1.0);
    let before = gpu.stream_stats().dispatches;
    let got = run(&gpt, &store, &x, &[b, t, e], true);
    assert!(gpu.stream_stats().dispatches - before > 10, "batch {b} runs op by op");
    assert_close("op-by-op batch", &got, &run(&cgpt, &cstore, &x, &[b, t, e], true), 2e-5, 2e-4);
    // A training tape (dropout, gradients) never takes the fused path.
    let tape = Tape::new(&store, true, 0);
    let xv = tape.constant(Tensor::from_slice(&g.dev, &x[..t * e], &[1, t, e]).unwrap());
    let before = gpu.stream_stats().dispatches;
    let y = gpt.forward(&tape, &xv).unwrap();
    assert!(y.requires_grad());
    assert!(gpu.stream_stats().dispatches - before > 10, "training runs op by op");
    // The op itself refuses what the kernel cannot do, with a clear error.
    let plan = plan_of(&store, b, t, e, 3, 2, None);
    let xt = Tensor::from_slice(&g.dev, &x, &[b, t, e]).unwrap();
    let err = vdd::tensor::ops::gpt_infer(&xt, store.flat(), &plan).unwrap_err().to_string();
    assert!(err.contains("not supported by the fused kernel"), "{err}");
    let mut bad = plan_of(&store, 1, t, e, 3, 2, None);
    bad.ln_f[0] = store.flat().numel();
    let err = vdd::tensor::ops::gpt_infer(&vdd::tensor::ops::slice(&xt, 0, 0, 1).unwrap(), store.flat(), &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the flat buffer"), "{err}");
}

#[test]
fn gpu_fused_token_projection_matches_the_cpu() {
    let Some(g) = gpu() else { return };
    for &(b, t, din, e, h, l) in &[(1, 5, 4, 72, 4, 4), (2, 3, 3, 24, 3, 2)] {
        let build = |dev: &Device| {
            let mut pb = ParamBuilder::new();
            let tok = vdd::nn::Linear::new(&mut pb, "tok", din, e, vdd::nn::LinearInit::Torch);
            let gpt = Gpt::new(&mut pb, "gpt", cfg(e, l, h, 8)).unwrap();
            let store = pb.build(dev, 5).unwrap();
            let n = store.flat().numel();
            store.load(&Rng::new(8).vec(n, -0.3, 0.3)).unwrap();
            (tok, gpt, store)
        };
        let x = Rng::new(6).vec(b * t * din, -1.0, 1.0);
        let out = |dev: &Device| {
            let (tok, gpt, store) = build(dev);
            let tape = Tape::inference(&store);
            let xv = tape.constant(Tensor::from_slice(dev, &x, &[b, t, din]).unwrap());
            dev.sync().unwrap();
            let before = dev.as_gpu().map(|g| g.stream_stats().dispatches);
            let y = gpt.forward_tokens(&tape, &tok, &xv).unwrap();
            let n = dev.as_gpu().map(|g| g.stream_stats().dispatches - before.unwrap());
            (y.value().to_vec().unwrap(), n)
        };
        let (want, _) = out(&Device::Cpu);
        let (got, n) = out(&g.dev);
        assert_eq!(n, Some(1), "token projection, positions and stack in one dispatch");
        assert_close(&format!("fused tokens b{b} t{t} din{din}"), &got, &want, 2e-5, 2e-4);
    }
}

#[test]
fn gpu_plain_and_subgroup_kernels_agree_with_the_twin_and_each_other() {
    let Some(g) = gpu() else { return };
    let has_sg = vdd::kernels::subgroups_of_8(g.dev.as_gpu().unwrap());
    // Widths whose column groups leave a partial last pass (18 groups of 4 over 16
    // invocations) and k-lengths that are not multiples of 8 four-steps.
    for &(b, t, e, h, l) in &[(1, 5, 72, 4, 2), (2, 11, 72, 4, 1), (1, 3, 20, 5, 2), (2, 16, 12, 1, 1)] {
        let (_, store) = model(&g.dev, cfg(e, l, h, 16), 23);
        let values = store.flat().to_vec().unwrap();
        let plan = plan_of(&store, b, t, e, h, l, None);
        let x = Rng::new(9).vec(b * t * e, -1.0, 1.0);
        let mut want = vec![f32::NAN; b * t * e];
        vdd::cpu::transformer::gpt_infer(&plan, &x, &values, &mut want);
        let xt = Tensor::from_slice(&g.dev, &x, &[b, t, e]).unwrap();
        let run = |share| vdd::tensor::ops::gpt_infer_with(&xt, store.flat(), &plan, Some(share));
        let plain = run(false).unwrap().to_vec().unwrap();
        assert_close(&format!("plain kernel b{b} t{t} e{e}"), &plain, &want, 2e-5, 2e-4);
        if has_sg {
            let shared = run(true).unwrap().to_vec().unwrap();
            assert_close(&format!("subgroup kernel b{b} t{t} e{e}"), &shared, &want, 2e-5, 2e-4);
            assert_eq!(shared, plain, "b{b} t{t} e{e}: the same sums in the same order");
        } else {
            let err = run(true).unwrap_err().to_string();
            assert!(err.contains("subgroups"), "{err}");
        }
    }
}

/// The fused stack reads the parameters through a texture mirror of the flat buffer: a new
/// load of the parameters between two calls (recorded in the same stream, no sync) must show
/// in the second call.
#[test]
fn gpu_fused_stack_follows_parameter_updates() {
    let Some(g) = gpu() else { return };
    let c = cfg(72, 4, 4, 16);
    let (gpt, store) = model(&g.dev, c, 11);
    let (cgpt, cstore) = model(&Device::Cpu, c, 11);
    let x = Rng::new(5).vec(5 * 72, -1.0, 1.0);
    let tape = Tape::inference(&store);
    let xv = tape.constant(Tensor::from_slice(&g.dev, &x, &[1, 5, 72]).unwrap());
    let first = gpt.forward(&tape, &xv).unwrap();
    let n = store.flat().numel();
    let other: Vec<f32> = Rng::new(99).vec(n, -0.3, 0.3);
    store.load(&other).unwrap();
    cstore.load(&other).unwrap();
    let second = gpt.forward(&tape, &xv).unwrap();
    let want_second = run(&cgpt, &cstore, &x, &[1, 5, 72], true);
    let (_, fresh) = model(&Device::Cpu, c, 11);
    let want_first = run(&cgpt, &fresh, &x, &[1, 5, 72], true);
    assert_close("before the update", &first.value().to_vec().unwrap(), &want_first, 2e-5, 2e-4);
    assert_close("after the update", &second.value().to_vec().unwrap(), &want_second, 2e-5, 2e-4);
}

/// Wide stacks loop long inside one invocation (llvmpipe ends an invocation's loops after
/// 65535 iterations in total, silently): the fused kernel must either compute them in full or
/// leave them to the op-by-op path. GPU against the CPU device.
#[test]
fn wide_stacks_match_the_cpu_whichever_path_runs_them() {
    let Some(g) = gpu() else { return };
    let gp = g.dev.as_gpu().unwrap();
    // Below the loop estimate's limit (43k of 50k: a truncating kernel would fail below) the
    // stack runs fused; above it (51k, 57k, 77k; 3 layers of width 672 gave NaNs fused), op
    // by op.
    assert!(vdd::kernels::transformer::supported(gp, 1, 2, 336, 6, 6));
    for (t, e, h, l) in [(1, 672, 12, 3), (1, 672, 12, 2), (2, 336, 6, 8)] {
        assert!(!vdd::kernels::transformer::supported(gp, 1, t, e, h, l), "t{t} e{e} l{l} should not be fused");
    }
    for &(b, t, e, h, l) in &[(1, 1, 672, 12, 3), (1, 2, 336, 6, 6), (1, 2, 336, 6, 8), (2, 4, 168, 4, 8)] {
        let (gpt, store) = model(&Device::Cpu, cfg(e, l, h, 16), 11);
        let (gg, sg) = model(&g.dev, cfg(e, l, h, 16), 11);
        let x = Rng::new(2).vec(b * t * e, -1.0, 1.0);
        let want = run(&gpt, &store, &x, &[b, t, e], true);
        let got = run(&gg, &sg, &x, &[b, t, e], true);
        assert_close(&format!("gpu vs cpu b{b} t{t} e{e} h{h} l{l}"), &got, &want, 1e-4, 1e-3);
    }
}
