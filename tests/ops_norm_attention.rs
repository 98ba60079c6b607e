//! GPU LayerNorm and causal attention against their CPU twins (outputs poisoned).
mod common;

use common::*;
use vdd::tensor::ops::{self, AttnDropout};
use vdd::{Device, Tensor};

fn both(g: &Device, v: &[f32], shape: &[usize]) -> (Tensor, Tensor) {
    (Tensor::from_slice(g, v, shape).unwrap(), Tensor::from_slice(&Device::Cpu, v, shape).unwrap())
}

#[test]
fn layer_norm_forward_and_backward_match_cpu_on_awkward_shapes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(41);
    // Widths 4, 72 and 256 run the fixed-width vec4 kernels, 512 the any-width one, the rest scalar.
    for &(rows, n) in &[(1, 1), (3, 17), (3, 4), (33, 72), (127, 3), (1000, 33), (7, 256), (5, 512)] {
        let x = rng.vec(rows * n, -3.0, 3.0);
        let (gam, bet, dy) = (rng.vec(n, 0.5, 1.5), rng.vec(n, -0.5, 0.5), rng.vec(rows * n, -1.0, 1.0));
        let (xg, xc) = both(&g.dev, &x, &[rows, n]);
        let (gg, gc) = both(&g.dev, &gam, &[n]);
        let (bg, bc) = both(&g.dev, &bet, &[n]);
        let (dyg, dyc) = both(&g.dev, &dy, &[rows, n]);
        let (yg, sg) = ops::layer_norm(&xg, &gg, &bg, 1e-5).unwrap();
        let (yc, sc) = ops::layer_norm(&xc, &gc, &bc, 1e-5).unwrap();
        assert_close(&format!("layer_norm y {rows}x{n}"), &yg.to_vec().unwrap(), &yc.to_vec().unwrap(), 2e-5, 1e-5);
        assert_close(&format!("layer_norm stats {rows}x{n}"), &sg.to_vec().unwrap(), &sc.to_vec().unwrap(), 2e-5, 1e-4);
        let (dxg, dgg, dbg) = ops::layer_norm_bwd(&xg, &gg, &sg, &dyg).unwrap();
        let (dxc, dgc, dbc) = ops::layer_norm_bwd(&xc, &gc, &sc, &dyc).unwrap();
        let t = 2e-5 * (rows as f64).sqrt();
        assert_close(&format!("layer_norm dx {rows}x{n}"), &dxg.to_vec().unwrap(), &dxc.to_vec().unwrap(), 1e-4, 1e-4);
        assert_close(&format!("layer_norm dgamma {rows}x{n}"), &dgg.to_vec().unwrap(), &dgc.to_vec().unwrap(), t, 1e-4);
        assert_close(&format!("layer_norm dbeta {rows}x{n}"), &dbg.to_vec().unwrap(), &dbc.to_vec().unwrap(), t, 1e-4);
    }
}

/// The accumulating backward: dx added to the gradient so far (in its pass when that tensor is
/// held nowhere else, else by a sum that leaves the shared tensor alone), dγ and dβ added to
/// parameter slots (joined in one buffer or apart), on the GPU and on the CPU.
#[test]
fn layer_norm_backward_accumulates_into_the_gradient_and_the_slots() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(43);
    for &(rows, n) in &[(1, 4), (3, 17), (33, 72), (127, 3), (5, 512)] {
        let x = rng.vec(rows * n, -3.0, 3.0);
        let (gam, bet, dy) = (rng.vec(n, 0.5, 1.5), rng.vec(n, -0.5, 0.5), rng.vec(rows * n, -1.0, 1.0));
        let (acc0, slot0) = (rng.vec(rows * n, -1.0, 1.0), rng.vec(2 * n, -1.0, 1.0));
        let cpu = Device::Cpu;
        let on = |d: &Device, v: &[f32], shape: &[usize]| Tensor::from_slice(d, v, shape).unwrap();
        let (xc, gc, bc, dyc) =
            (on(&cpu, &x, &[rows, n]), on(&cpu, &gam, &[n]), on(&cpu, &bet, &[n]), on(&cpu, &dy, &[rows, n]));
        let (_, sc) = ops::layer_norm(&xc, &gc, &bc, 1e-5).unwrap();
        let (dxc, dgc, dbc) = ops::layer_norm_bwd(&xc, &gc, &sc, &dyc).unwrap();
        let plus = |a: &[f32], b: Vec<f32>| -> Vec<f32> { a.iter().zip(b).map(|(p, q)| p + q).collect() };
        let want_dx = plus(&acc0, dxc.to_vec().unwrap());
        let want_dg = plus(&slot0[..n], dgc.to_vec().unwrap());
        let want_db = plus(&slot0[n..], dbc.to_vec().unwrap());
        for dev in [&g.dev, &cpu] {
            let (xt, gt, bt, dyt) =
                (on(dev, &x, &[rows, n]), on(dev, &gam, &[n]), on(dev, &bet, &[n]), on(dev, &dy, &[rows, n]));
            let (_, st) = ops::layer_norm(&xt, &gt, &bt, 1e-5).unwrap();
            for (exclusive, joined) in [(true, true), (true, false), (false, true), (false, false)] {
                let on_gpu = matches!(dev, Device::Gpu(_));
                let tag = format!("{rows}x{n} gpu={on_gpu} exclusive={exclusive} joined={joined}");
                let acc = on(dev, &acc0, &[rows, n]);
                let held = (!exclusive).then(|| acc.clone());
                let both = on(dev, &slot0, &[2 * n]);
                let (sg, sb) = if joined {
                    (both.view_flat(0, &[n]).unwrap(), both.view_flat(n, &[n]).unwrap())
                } else {
                    (on(dev, &slot0[..n], &[n]), on(dev, &slot0[n..], &[n]))
                };
                let (dx, dg, db) = ops::layer_norm_bwd_acc(&xt, &gt, &st, &dyt, Some(acc), Some((&sg, &sb))).unwrap();
                assert!(dg.is_none() && db.is_none(), "{tag}: gradients returned although slots were given");
                assert_close(&format!("dx {tag}"), &dx.to_vec().unwrap(), &want_dx, 1e-4, 1e-4);
                let t = 2e-5 * (rows as f64).sqrt();
                assert_close(&format!("dgamma slot {tag}"), &sg.to_vec().unwrap(), &want_dg, t, 1e-4);
                assert_close(&format!("dbeta slot {tag}"), &sb.to_vec().unwrap(), &want_db, t, 1e-4);
                if let Some(h) = held {
                    assert_eq!(h.to_vec().unwrap(), acc0, "{tag}: a shared gradient was modified");
                }
            }
        }
    }
}

#[test]
fn attention_forward_and_backward_match_cpu_with_and_without_dropout() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(42);
    // (batch, tokens, heads, head_dim): model shapes (5 and 11 tokens, head dim 18), the longest
    // short sequence (16 tokens) and edges.
    for &(b, t, h, d) in
        &[(1, 1, 1, 1), (3, 5, 4, 18), (2, 11, 4, 18), (2, 17, 2, 3), (2, 16, 2, 16), (1, 64, 1, 64), (33, 3, 3, 8)]
    {
        for drop in [AttnDropout::default(), AttnDropout { prob: 0.2, seed: 7, offset: 3 }] {
            let n = b * t * h * d;
            let (q, k, v, go) =
                (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
            let shape = [b, t, h * d];
            let run = |dev: &Device| {
                let mk = |x: &[f32]| Tensor::from_slice(dev, x, &shape).unwrap();
                let (qt, kt, vt) = (mk(&q), mk(&k), mk(&v));
                let (o, lse) = ops::attention(&qt, &kt, &vt, h, drop).unwrap();
                let (dq, dk, dv) = ops::attention_bwd(&qt, &kt, &vt, &o, &lse, &mk(&go), h, drop).unwrap();
                [o, lse, dq, dk, dv].map(|x| x.to_vec().unwrap())
            };
            let (gv, cv) = (run(&g.dev), run(&Device::Cpu));
            for (name, (x, y)) in ["o", "lse", "dq", "dk", "dv"].iter().zip(gv.iter().zip(&cv)) {
                assert_close(&format!("attention {name} b{b} t{t} h{h} d{d} p{}", drop.prob), x, y, 2e-5, 1e-4);
            }
        }
    }
}

#[test]
fn attention_rejects_width_not_divisible_by_heads() {
    let x = Tensor::zeros(&Device::Cpu, &[2, 3, 10]).unwrap();
    let err = ops::attention(&x, &x, &x, 4, AttnDropout::default()).unwrap_err();
    assert!(err.to_string().contains("heads"), "{err}");
}
