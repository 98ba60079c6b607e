//! Reduction and softmax gradients: the f64 CPU backward against central finite differences.
mod common;

use common::*;
use vdd::cpu::reduce::{Reduce, Softmax};
use vdd::tensor::ops;

#[test]
fn reduce_backward_matches_finite_differences() {
    let mut rng = Rng::new(11);
    let (rows, n) = (3, 7);
    for op in Reduce::ALL {
        let x = rng.vec64(rows * n, -2.0, 2.0);
        let w = rng.vec64(rows, -1.0, 1.0);
        let loss = |xs: &[f64]| -> f64 {
            let y = ops::reduce(&t64(xs, &[rows, n]), op).unwrap().to_vec64().unwrap();
            y.iter().zip(&w).map(|(a, b)| a * b).sum()
        };
        let xt = t64(&x, &[rows, n]);
        let y = ops::reduce(&xt, op).unwrap();
        let g = ops::reduce_bwd(&xt, &y, &t64(&w, &[rows]), op).unwrap().to_vec64().unwrap();
        check_grad(&format!("{op:?}"), &loss, &x, &g, 1e-6);
    }
}

#[test]
fn softmax_backward_matches_finite_differences() {
    let mut rng = Rng::new(12);
    let (rows, n) = (4, 5);
    for op in [Softmax::Softmax, Softmax::LogSoftmax] {
        let x = rng.vec64(rows * n, -3.0, 3.0);
        let w = rng.vec64(rows * n, -1.0, 1.0);
        let loss = |xs: &[f64]| -> f64 {
            let y = ops::softmax(&t64(xs, &[rows, n]), op).unwrap().to_vec64().unwrap();
            y.iter().zip(&w).map(|(a, b)| a * b).sum()
        };
        let y = ops::softmax(&t64(&x, &[rows, n]), op).unwrap();
        let g = ops::softmax_bwd(&y, &t64(&w, &[rows, n]), op).unwrap().to_vec64().unwrap();
        check_grad(&format!("{op:?}"), &loss, &x, &g, 1e-7);
    }
}
