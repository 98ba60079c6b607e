//! LayerNorm, attention, slice/concat/gather gradients: f64 CPU backward against central
//! finite differences.
mod common;

use common::*;
use vdd::tensor::ops::{self, AttnDropout};
use vdd::Tensor;

fn dot(t: &Tensor, w: &[f64]) -> f64 {
    t.to_vec64().unwrap().iter().zip(w).map(|(a, b)| a * b).sum()
}

#[test]
fn layer_norm_backward_matches_finite_differences() {
    let mut rng = Rng::new(61);
    let (rows, n) = (3, 6);
    let (x, gam, bet, w) = (
        rng.vec64(rows * n, -2.0, 2.0),
        rng.vec64(n, 0.5, 1.5),
        rng.vec64(n, -0.5, 0.5),
        rng.vec64(rows * n, -1.0, 1.0),
    );
    let loss = |x: &[f64], g: &[f64], b: &[f64]| {
        dot(&ops::layer_norm(&t64(x, &[rows, n]), &t64(g, &[n]), &t64(b, &[n]), 1e-5).unwrap().0, &w)
    };
    let (xt, gt) = (t64(&x, &[rows, n]), t64(&gam, &[n]));
    let (_, stats) = ops::layer_norm(&xt, &gt, &t64(&bet, &[n]), 1e-5).unwrap();
    let (dx, dg, db) = ops::layer_norm_bwd(&xt, &gt, &stats, &t64(&w, &[rows, n])).unwrap();
    check_grad("layer_norm dx", &|v| loss(v, &gam, &bet), &x, &dx.to_vec64().unwrap(), 1e-6);
    check_grad("layer_norm dgamma", &|v| loss(&x, v, &bet), &gam, &dg.to_vec64().unwrap(), 1e-6);
    check_grad("layer_norm dbeta", &|v| loss(&x, &gam, v), &bet, &db.to_vec64().unwrap(), 1e-6);
}

#[test]
fn attention_backward_matches_finite_differences_with_dropout() {
    let mut rng = Rng::new(62);
    let (b, t, h, d) = (2, 4, 2, 3);
    let shape = [b, t, h * d];
    let n = b * t * h * d;
    for drop in [AttnDropout::default(), AttnDropout { prob: 0.25, seed: 5, offset: 9 }] {
        let (q, k, v, w) =
            (rng.vec64(n, -1.0, 1.0), rng.vec64(n, -1.0, 1.0), rng.vec64(n, -1.0, 1.0), rng.vec64(n, -1.0, 1.0));
        let loss = |q: &[f64], k: &[f64], v: &[f64]| {
            dot(&ops::attention(&t64(q, &shape), &t64(k, &shape), &t64(v, &shape), h, drop).unwrap().0, &w)
        };
        let (qt, kt, vt) = (t64(&q, &shape), t64(&k, &shape), t64(&v, &shape));
        let (o, lse) = ops::attention(&qt, &kt, &vt, h, drop).unwrap();
        let (dq, dk, dv) = ops::attention_bwd(&qt, &kt, &vt, &o, &lse, &t64(&w, &shape), h, drop).unwrap();
        check_grad("attention dq", &|x| loss(x, &k, &v), &q, &dq.to_vec64().unwrap(), 1e-6);
        check_grad("attention dk", &|x| loss(&q, x, &v), &k, &dk.to_vec64().unwrap(), 1e-6);
        check_grad("attention dv", &|x| loss(&q, &k, x), &v, &dv.to_vec64().unwrap(), 1e-6);
    }
}

#[test]
fn slice_concat_gather_backward_match_finite_differences() {
    let mut rng = Rng::new(63);
    let x = rng.vec64(4 * 5, -1.0, 1.0);
    let w = rng.vec64(4 * 2, -1.0, 1.0);
    let loss = |v: &[f64]| dot(&ops::slice(&t64(v, &[4, 5]), 1, 2, 4).unwrap(), &w);
    let g = ops::slice_bwd(&t64(&w, &[4, 2]), &[4, 5], 1, 2).unwrap();
    check_grad("slice", &loss, &x, &g.to_vec64().unwrap(), 1e-7);
    let idx = [2u32, 0, 2, 3, 2];
    let wg = rng.vec64(5 * 5, -1.0, 1.0);
    let loss = |v: &[f64]| dot(&ops::gather_rows(&t64(v, &[4, 5]), &idx).unwrap(), &wg);
    let g = ops::gather_rows_bwd(&t64(&wg, &[5, 5]), &idx, 4).unwrap();
    check_grad("gather_rows", &loss, &x, &g.to_vec64().unwrap(), 1e-7);
    let wp = rng.vec64(20, -1.0, 1.0);
    let loss = |v: &[f64]| dot(&ops::permute(&t64(v, &[4, 5]), &[1, 0]).unwrap(), &wp);
    let g = ops::permute(&t64(&wp, &[5, 4]), &[1, 0]).unwrap();
    check_grad("permute (inverse permutation)", &loss, &x, &g.to_vec64().unwrap(), 1e-7);
}
