//! The row chain (`shaders/mlp/chain_infer.wgsl`, CPU twin `cpu::mlp_chain::chain_infer`): the
//! twin against the tensor ops it replaces, the GPU kernels (plain and subgroup-sharing, bit-identical)
//! against the twin on awkward sizes
//! (odd widths, unaligned weights, split inner dimensions, poisoned outputs), and the student's
//! acting path (tokens + backbone, then heads: two dispatches) against the op-by-op path on the CPU.
mod common;

use common::*;
use vdd::cpu::elementwise::{Binary, Unary};
use vdd::cpu::mlp_chain::{ChainPlan, Slot};
use vdd::cpu::reduce::Softmax;
use vdd::tensor::ops;
use vdd::{Device, Tensor};

/// A chain over rows of 10 values (input at 3..10) with odd widths; weights from `base` on
/// (`base` odd: every weight unaligned). Returns the plan and the parameter offsets
/// `(w1, b1, w2, w3, b3)`.
fn odd_plan(rows: usize, base: usize) -> (ChainPlan, [usize; 5]) {
    let (mut p, x) = ChainPlan::new(rows, 10, 3, 7);
    let offs =
        [base, base + 7 * 17, base + 7 * 17 + 17, base + 7 * 17 + 17 + 17 * 5, base + 7 * 17 + 17 + 17 * 5 + 5 * 3];
    let h = p.linear(x, 17, offs[0], Some(offs[1]), Some(Unary::Silu));
    let g = p.linear(h, 5, offs[2], None, Some(Unary::Relu));
    let m = p.map(g, Unary::Mish);
    let a = p.add(g, m);
    let o = p.linear(a, 3, offs[3], Some(offs[4]), None);
    p.log_softmax(o);
    p.store(h);
    p.store(o);
    (p, offs)
}

fn view(dev: &Device, w: &[f32], at: usize, shape: &[usize]) -> Tensor {
    Tensor::from_slice(dev, &w[at..at + shape.iter().product::<usize>()], shape).unwrap()
}

#[test]
fn cpu_twin_matches_the_tensor_ops() {
    let dev = Device::Cpu;
    let rows = 3;
    let (plan, o) = odd_plan(rows, 1);
    let w = Rng::new(3).vec(o[4] + 3 + 5, -0.6, 0.6);
    let x = Rng::new(4).vec(rows * 10, -1.0, 1.0);
    let got = ops::chain_infer(
        &Tensor::from_slice(&dev, &x, &[rows, 10]).unwrap(),
        &Tensor::from_slice(&dev, &w, &[w.len()]).unwrap(),
        &plan,
    )
    .unwrap()
    .to_vec()
    .unwrap();
    // The same maths through the tensor ops.
    let xin: Vec<f32> = x.chunks(10).flat_map(|r| r[3..].to_vec()).collect();
    let xin = Tensor::from_slice(&dev, &xin, &[rows, 7]).unwrap();
    let h = ops::unary(
        &ops::linear(&xin, &view(&dev, &w, o[0], &[7, 17]), Some(&view(&dev, &w, o[1], &[17]))).unwrap(),
        Unary::Silu,
    )
    .unwrap();
    let g = ops::unary(&ops::linear(&h, &view(&dev, &w, o[2], &[17, 5]), None).unwrap(), Unary::Relu).unwrap();
    let a = ops::binary(&g, &ops::unary(&g, Unary::Mish).unwrap(), Binary::Add).unwrap();
    let out = ops::linear(&a, &view(&dev, &w, o[3], &[5, 3]), Some(&view(&dev, &w, o[4], &[3]))).unwrap();
    let out = ops::softmax(&out, Softmax::LogSoftmax).unwrap();
    let want = ops::concat(&[&h, &out], 1).unwrap().to_vec().unwrap();
    assert_eq!(plan.out_width, 20);
    assert_close("chain twin vs ops", &got, &want, 1e-6, 1e-5);
}

#[test]
fn gpu_chain_matches_the_cpu_twin() {
    let Some(g) = gpu() else { return };
    // Odd widths with unaligned and aligned weights; then a student-like stack whose narrow
    // outputs split k across invocations.
    let mut plans = vec![odd_plan(1, 1), odd_plan(2, 4)];
    let (mut p, x) = ChainPlan::new(2, 72 * 5, 72 * 4, 72);
    let mut at = 0;
    let mut take = |n: usize| {
        let o = at;
        at += n;
        o
    };
    let (w1, b1, w2, b2) = (take(72 * 100), take(100), take(100 * 512), take(512));
    let (w3, b3, w4, b4, w5, b5) = (take(512 * 512), take(512), take(512 * 16), take(16), take(512 * 64), take(64));
    let (w6, b6, w7) = (take(64 * 64), take(64), take(64 * 8));
    let h = p.linear(x, 100, w1, Some(b1), Some(Unary::Silu));
    let f = p.linear(h, 512, w2, Some(b2), None);
    let m = p.linear(f, 512, w3, Some(b3), Some(Unary::Relu));
    let m = p.linear(m, 16, w4, Some(b4), None);
    p.store(m);
    let gt = p.linear(f, 64, w5, Some(b5), None);
    let a = p.map(gt, Unary::Mish);
    let a = p.linear(a, 64, w6, Some(b6), Some(Unary::Gelu));
    let gt = p.add(gt, a);
    let lg = p.linear(gt, 8, w7, None, None);
    p.log_softmax(lg);
    p.store(lg);
    plans.push((p, [0; 5]));
    for (i, (plan, _)) in plans.iter().enumerate() {
        let w = Rng::new(10 + i as u64).vec(400_000, -0.08, 0.08); // covers every plan's parameters
        let x = Rng::new(20 + i as u64).vec(plan.rows * plan.in_stride, -1.0, 1.0);
        let xs = [Device::Cpu, g.dev.clone()].map(|d| Tensor::from_slice(&d, &x, &[x.len()]).unwrap());
        let ws = [Device::Cpu, g.dev.clone()].map(|d| Tensor::from_slice(&d, &w, &[w.len()]).unwrap());
        let want = ops::chain_infer(&xs[0], &ws[0], plan).unwrap().to_vec().unwrap();
        let plain = ops::chain_infer_with(&xs[1], &ws[1], plan, Some(false)).unwrap().to_vec().unwrap();
        assert_close(&format!("chain plan {i} ({} rows), plain kernel", plan.rows), &plain, &want, 2e-5, 2e-4);
        if vdd::kernels::subgroups_of_8(g.dev.as_gpu().unwrap()) {
            let shared = ops::chain_infer_with(&xs[1], &ws[1], plan, Some(true)).unwrap().to_vec().unwrap();
            assert_eq!(shared, plain, "chain plan {i}: the subgroup kernel sums as the plain one");
        } else {
            assert!(ops::chain_infer_with(&xs[1], &ws[1], plan, Some(true)).is_err());
        }
    }
}

#[test]
fn chain_refuses_bad_plans_clearly() {
    let dev = Device::Cpu;
    let (mut plan, _) = odd_plan(1, 0);
    let w = Tensor::from_slice(&dev, &vec![0.0; 100], &[100]).unwrap();
    let x = Tensor::from_slice(&dev, &[0.0; 10], &[10]).unwrap();
    let err = ops::chain_infer(&x, &w, &plan).unwrap_err().to_string();
    assert!(err.contains("outside the flat buffer"), "{err}");
    plan.ops.push(vdd::cpu::mlp_chain::ChainOp::Store { src: Slot { at: 0, len: 4 }, out: 19 });
    let w = Tensor::from_slice(&dev, &vec![0.0; 1000], &[1000]).unwrap();
    let err = ops::chain_infer(&x, &w, &plan).unwrap_err().to_string();
    assert!(err.contains("writes past the output row"), "{err}");
    let err = ops::chain_infer(&Tensor::from_slice(&dev, &[0.0; 9], &[9]).unwrap(), &w, &odd_plan(1, 0).0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("need 10 elements"), "{err}");
}

/// The Avoiding student with random parameters on `dev` (same values on every device).
fn student(dev: &Device) -> vdd::moe::Student {
    let cfg = vdd::moe::StudentConfig::avoiding();
    let norm = vdd::io::Normalization::identity(cfg.obs_dim, cfg.act_dim);
    let s = vdd::moe::Student::new(cfg, norm, &vdd::moe::MeanInit::Uniform(1.0), "avoiding", dev, 0).unwrap();
    let n = s.store.flat().numel();
    let mut v = Rng::new(77).vec(n, -0.05, 0.05);
    for e in s.store.entries() {
        if e.name.ends_with("gamma") {
            v[e.offset..e.offset + e.shape[0]].iter_mut().for_each(|g| *g += 1.0);
        }
    }
    s.store.load(&v).unwrap();
    s
}

#[test]
fn gpu_student_acts_in_two_dispatches_with_the_op_by_op_values() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap().clone();
    let (sg, sc) = (student(&g.dev), student(&Device::Cpu));
    for (b, t) in [(1, 5), (2, 5), (1, 3), (3, 5)] {
        let x = Rng::new(b as u64 + 31).vec(b * t * 4, -1.5, 1.5);
        let want = sc.act_rows(&Tensor::from_slice(&Device::Cpu, &x, &[b, t, 4]).unwrap()).unwrap().to_vec().unwrap();
        let xg = Tensor::from_slice(&g.dev, &x, &[b, t, 4]).unwrap();
        gpu.sync().unwrap();
        let before = gpu.stream_stats().dispatches;
        let rows = sg.act_rows(&xg).unwrap();
        let dispatches = gpu.stream_stats().dispatches - before;
        if b == 1 {
            assert_eq!(dispatches, 3, "b{b} t{t}: fused tokens and backbone, head chain in two stages");
        } else if b <= vdd::kernels::mlp::MAX_ROWS {
            assert_eq!(dispatches, 2, "b{b} t{t}: fused tokens and backbone, head chain");
        } else {
            assert!(dispatches > 20, "b{b}: op by op");
        }
        assert_eq!(rows.shape(), [b, 8 * 2 + 8]);
        assert_close(&format!("student act rows b{b} t{t}"), &rows.to_vec().unwrap(), &want, 5e-5, 5e-4);
    }
}

/// A single-row chain whose first Linear (7 → 301: 76 column groups, the last one partial, parts
/// meeting at column 152, so the exchange's vec4 at its end is shared by both parts) feeds two
/// Linears (301 → 6, 301 → 303: the partial ones, split by their input) and a Store, with a
/// log-softmax, odd widths and later ops reading earlier slots; weights from `base` on (`base`
/// odd: unaligned).
fn split_plan(rows: usize, base: usize) -> (ChainPlan, usize) {
    let (mut p, x) = ChainPlan::new(rows, 9, 2, 7);
    let mut at = base;
    let mut take = |n: usize| {
        let o = at;
        at += n;
        o
    };
    let h = p.linear(x, 301, take(7 * 301), Some(take(301)), Some(Unary::Silu));
    p.store(h);
    let g = p.linear(h, 6, take(301 * 6), None, Some(Unary::Relu));
    p.log_softmax(g);
    let m = p.linear(h, 303, take(301 * 303), Some(take(303)), None);
    let m = p.map(m, Unary::Mish);
    let o = p.linear(m, 5, take(303 * 5), Some(take(5)), Some(Unary::Tanh));
    let o = p.add(o, o);
    p.store(o);
    p.store(g);
    (p, at)
}

#[test]
fn split_is_chosen_by_the_work_it_shares_out() {
    let split = |p: &ChainPlan| vdd::kernels::mlp::split_of(p).map(|s| (s.op, s.partial));
    assert_eq!(split(&split_plan(1, 0).0), Some((0, vec![2, 4])), "the 7 → 301 Linear and both readers");
    assert_eq!(split(&split_plan(2, 0).0), None, "several rows run unsplit");
    // A write over the output ends the readers that can be split by it: here the 300 → 303
    // Linear reads the log-softmaxed slot, so it is split by its own columns instead.
    let (mut p, x) = ChainPlan::new(1, 7, 0, 7);
    let h = p.linear(x, 300, 0, None, None);
    let g = p.linear(h, 6, 0, None, None);
    p.log_softmax(h);
    let m = p.linear(h, 303, 0, None, None);
    p.store(g);
    p.store(m);
    assert_eq!(split(&p), Some((3, vec![])));
}

#[test]
fn gpu_single_row_split_chain_matches_the_twin_and_the_unsplit_rows() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap().clone();
    for base in [0, 3] {
        let (one, n) = split_plan(1, base);
        let (two, _) = split_plan(2, base);
        let w = Rng::new(40 + base as u64).vec(n, -0.1, 0.1);
        let x = Rng::new(41).vec(2 * 9, -1.0, 1.0);
        let on = |d: &Device, v: &[f32]| Tensor::from_slice(d, v, &[v.len()]).unwrap();
        let want = ops::chain_infer(&on(&Device::Cpu, &x[..9]), &on(&Device::Cpu, &w), &one).unwrap().to_vec().unwrap();
        let (xg, wg) = (on(&g.dev, &x), on(&g.dev, &w));
        gpu.sync().unwrap();
        let before = gpu.stream_stats().dispatches;
        let split = ops::chain_infer(&xg, &wg, &one).unwrap().to_vec().unwrap();
        assert_eq!(gpu.stream_stats().dispatches - before, 2, "base {base}: two stages");
        assert_close(&format!("split chain, weights at {base}"), &split, &want, 2e-5, 2e-4);
        let rows = ops::chain_infer(&xg, &wg, &two).unwrap().to_vec().unwrap();
        assert_close(&format!("split vs unsplit row, weights at {base}"), &split, &rows[..one.out_width], 1e-6, 1e-5);
        let plain = ops::chain_infer_with(&xg, &wg, &one, Some(false)).unwrap().to_vec().unwrap();
        assert_eq!(split, plain, "base {base}: the adapter's kernel sums as the plain one");
        let again = ops::chain_infer(&xg, &wg, &one).unwrap().to_vec().unwrap();
        assert_eq!(split, again, "base {base}: deterministic");
    }
}

/// Long loops inside one invocation (llvmpipe ends an invocation's loops after 65535
/// iterations in total, silently): an unaligned 1500 → 250 Linear (single-float weights,
/// column by column: about 48 000 iterations by the estimate) still runs fused and matches the
/// twin; a 1023 → 1023 one (about 131 000) is refused with a clear error. (The student's own
/// chain still runs fused: `gpu_student_acts_in_two_dispatches_with_the_op_by_op_values`.)
#[test]
fn chains_too_long_for_one_invocation_are_refused_and_the_rest_compute_in_full() {
    let Some(g) = gpu() else { return };
    let gp = g.dev.as_gpu().unwrap();
    let limit = vdd::kernels::MAX_LOOP_ITERATIONS;
    let (mut near, x) = ChainPlan::new(1, 1500, 0, 1500);
    let h = near.linear(x, 250, 1, Some(1 + 1500 * 250), None);
    near.store(h);
    let est = vdd::kernels::mlp::loop_iterations(&near, 0);
    assert!(est > limit * 9 / 10 && est <= limit, "estimate {est}");
    assert!(vdd::kernels::mlp::supported(gp, &near, 0));
    let w = Rng::new(5).vec(1 + 1023 * 1023, -0.05, 0.05);
    let x = Rng::new(6).vec(1500, -1.0, 1.0);
    let run = |d: &Device, p: &ChainPlan| {
        let xt = Tensor::from_slice(d, &x[..p.in_width], &[p.in_width]).unwrap();
        ops::chain_infer(&xt, &Tensor::from_slice(d, &w, &[w.len()]).unwrap(), p)
    };
    let want = run(&Device::Cpu, &near).unwrap().to_vec().unwrap();
    assert_close("near the loop limit", &run(&g.dev, &near).unwrap().to_vec().unwrap(), &want, 2e-5, 2e-4);
    let (mut far, x2) = ChainPlan::new(1, 1023, 0, 1023);
    let h = far.linear(x2, 1023, 1, None, None);
    far.store(h);
    assert!(vdd::kernels::mlp::loop_iterations(&far, 0) > limit);
    let err = run(&g.dev, &far).unwrap_err().to_string();
    assert!(err.contains("not supported"), "{err}");
}
