//! Elementwise gradients: the f64 CPU backward against central finite differences.
mod common;

use common::*;
use vdd::cpu::elementwise::{Binary, Side, Unary};
use vdd::tensor::ops;

/// L(x) = Σ w ⊙ f(x): its gradient is unary_bwd(x, w).
#[test]
fn unary_backward_matches_finite_differences() {
    let mut rng = Rng::new(7);
    for op in Unary::all() {
        let n = 17;
        let x: Vec<f64> = match op {
            Unary::Log | Unary::Sqrt | Unary::Recip => rng.vec64(n, 0.3, 3.0),
            // Stay away from the kinks of relu / abs / clamp.
            _ => rng.vec64(n, -3.0, 3.0).into_iter().map(|v| if v.abs() < 0.05 { v + 0.2 } else { v }).collect(),
        };
        let x: Vec<f64> = if let Unary::Clamp(lo, hi) = op {
            x.into_iter()
                .map(|v| if (v - lo as f64).abs() < 0.05 || (v - hi as f64).abs() < 0.05 { v + 0.11 } else { v })
                .collect()
        } else {
            x
        };
        let w = rng.vec64(n, -1.0, 1.0);
        let loss = |xs: &[f64]| -> f64 {
            let y = ops::unary(&t64(xs, &[n]), op).unwrap().to_vec64().unwrap();
            y.iter().zip(&w).map(|(a, b)| a * b).sum()
        };
        let g = ops::unary_bwd(&t64(&x, &[n]), &t64(&w, &[n]), op).unwrap().to_vec64().unwrap();
        check_grad(&format!("{op:?}"), &loss, &x, &g, 1e-6);
    }
}

#[test]
fn binary_backward_with_broadcast_matches_finite_differences() {
    let mut rng = Rng::new(8);
    let pairs: &[(&[usize], &[usize])] = &[(&[3, 5], &[5]), (&[4, 1, 3], &[1, 2, 3]), (&[7], &[7])];
    for op in Binary::ALL {
        for &(sa, sb) in pairs {
            let a = rng.vec64(sa.iter().product(), -2.0, 2.0);
            let b = rng.vec64(sb.iter().product(), 0.5, 2.0);
            let out = ops::binary(&t64(&a, sa), &t64(&b, sb), op).unwrap();
            let w = rng.vec64(out.numel(), -1.0, 1.0);
            let wt = t64(&w, out.shape());
            let loss_a = |xs: &[f64]| -> f64 {
                let y = ops::binary(&t64(xs, sa), &t64(&b, sb), op).unwrap().to_vec64().unwrap();
                y.iter().zip(&w).map(|(p, q)| p * q).sum()
            };
            let loss_b = |xs: &[f64]| -> f64 {
                let y = ops::binary(&t64(&a, sa), &t64(xs, sb), op).unwrap().to_vec64().unwrap();
                y.iter().zip(&w).map(|(p, q)| p * q).sum()
            };
            let ga = ops::binary_bwd(&t64(&a, sa), &t64(&b, sb), &wt, op, Side::A).unwrap().to_vec64().unwrap();
            let gb = ops::binary_bwd(&t64(&a, sa), &t64(&b, sb), &wt, op, Side::B).unwrap().to_vec64().unwrap();
            check_grad(&format!("{op:?} da {sa:?}∘{sb:?}"), &loss_a, &a, &ga, 1e-6);
            check_grad(&format!("{op:?} db {sa:?}∘{sb:?}"), &loss_b, &b, &gb, 1e-6);
        }
    }
}
