//! GPU elementwise kernels against their CPU twins on awkward shapes (outputs poisoned).
mod common;

use common::*;
use vdd::cpu::elementwise::{Binary, Side, Unary};
use vdd::tensor::ops;
use vdd::{Device, Tensor};

/// An input range where `op` is defined and well conditioned, plus extreme values where safe.
fn inputs(op: Unary, n: usize, rng: &mut Rng) -> Vec<f32> {
    match op {
        Unary::Log | Unary::Sqrt => rng.vec(n, 0.05, 4.0),
        Unary::Recip => {
            rng.vec(n, 0.2, 3.0).into_iter().enumerate().map(|(i, v)| if i % 2 == 0 { v } else { -v }).collect()
        }
        Unary::Exp => rng.vec(n, -6.0, 6.0),
        _ => {
            let mut v = rng.vec(n, -5.0, 5.0);
            let extremes = [-30.0, -20.5, 20.5, 30.0, 0.0];
            for (slot, e) in v.iter_mut().rev().zip(extremes) {
                *slot = e;
            }
            v
        }
    }
}

fn check_unary(op: Unary) {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(op.code() as u64);
    for &n in AWKWARD {
        let x = inputs(op, n, &mut rng);
        let dy = rng.vec(n, -1.0, 1.0);
        let xg = Tensor::from_slice(&g.dev, &x, &[n]).unwrap();
        let xc = Tensor::from_slice(&Device::Cpu, &x, &[n]).unwrap();
        let dyg = Tensor::from_slice(&g.dev, &dy, &[n]).unwrap();
        let dyc = Tensor::from_slice(&Device::Cpu, &dy, &[n]).unwrap();
        let got = ops::unary(&xg, op).unwrap().to_vec().unwrap();
        let want = ops::unary(&xc, op).unwrap().to_vec().unwrap();
        assert_close(&format!("{op:?} n={n}"), &got, &want, 2e-6, 2e-5);
        let got = ops::unary_bwd(&xg, &dyg, op).unwrap().to_vec().unwrap();
        let want = ops::unary_bwd(&xc, &dyc, op).unwrap().to_vec().unwrap();
        assert_close(&format!("{op:?} backward n={n}"), &got, &want, 2e-6, 2e-5);
    }
}

macro_rules! unary_tests {
    ($($name:ident: $op:expr,)*) => { $( #[test] fn $name() { check_unary($op); } )* };
}

unary_tests! {
    unary_neg_matches_cpu: Unary::Neg,
    unary_exp_matches_cpu: Unary::Exp,
    unary_log_matches_cpu: Unary::Log,
    unary_sqrt_matches_cpu: Unary::Sqrt,
    unary_square_matches_cpu: Unary::Square,
    unary_recip_matches_cpu: Unary::Recip,
    unary_tanh_matches_cpu: Unary::Tanh,
    unary_sigmoid_matches_cpu: Unary::Sigmoid,
    unary_softplus_matches_cpu: Unary::Softplus,
    unary_relu_matches_cpu: Unary::Relu,
    unary_gelu_erf_matches_cpu: Unary::Gelu,
    unary_gelu_tanh_matches_cpu: Unary::GeluTanh,
    unary_silu_matches_cpu: Unary::Silu,
    unary_mish_matches_cpu: Unary::Mish,
    unary_abs_matches_cpu: Unary::Abs,
    unary_scale_matches_cpu: Unary::Scale(-1.75),
    unary_add_scalar_matches_cpu: Unary::AddScalar(0.625),
    unary_clamp_matches_cpu: Unary::Clamp(-0.5, 0.75),
}

/// Broadcast pairs: equal shapes, bias rows, outer products, scalars, rank-5 collapsing.
const PAIRS: &[(&[usize], &[usize])] = &[
    (&[1], &[1]),
    (&[33], &[33]),
    (&[127, 3], &[127, 3]),
    (&[3, 17], &[17]),
    (&[17, 33], &[17, 1]),
    (&[5, 1, 7], &[1, 4, 7]),
    (&[1], &[17, 3]),
    (&[2, 3, 4, 5, 6], &[4, 5, 6]),
    (&[2, 3, 4, 5], &[3, 1, 5]),
    (&[33, 1], &[1, 127]),
    // vec4 kernels: unbroadcast (mode 0), b a repeated row (mode 1), a a repeated row (mode 2).
    (&[5, 12], &[5, 12]),
    (&[7, 16], &[16]),
    (&[12], &[5, 12]),
];

fn check_binary(op: Binary) {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(100 + op.code() as u64);
    for &(sa, sb) in PAIRS {
        let na: usize = sa.iter().product();
        let nb: usize = sb.iter().product();
        let a = rng.vec(na, -2.0, 2.0);
        // Keep divisors away from zero.
        let b: Vec<f32> =
            rng.vec(nb, 0.5, 2.0).into_iter().enumerate().map(|(i, v)| if i % 3 == 0 { -v } else { v }).collect();
        let (ag, bg) = (Tensor::from_slice(&g.dev, &a, sa).unwrap(), Tensor::from_slice(&g.dev, &b, sb).unwrap());
        let (ac, bc) =
            (Tensor::from_slice(&Device::Cpu, &a, sa).unwrap(), Tensor::from_slice(&Device::Cpu, &b, sb).unwrap());
        let yg = ops::binary(&ag, &bg, op).unwrap();
        let yc = ops::binary(&ac, &bc, op).unwrap();
        assert_eq!(yg.shape(), yc.shape());
        assert_close(&format!("{op:?} {sa:?}∘{sb:?}"), &yg.to_vec().unwrap(), &yc.to_vec().unwrap(), 1e-6, 1e-6);
        let dy = rng.vec(yc.numel(), -1.0, 1.0);
        let dyg = Tensor::from_slice(&g.dev, &dy, yc.shape()).unwrap();
        let dyc = Tensor::from_slice(&Device::Cpu, &dy, yc.shape()).unwrap();
        for side in [Side::A, Side::B] {
            let got = ops::binary_bwd(&ag, &bg, &dyg, op, side).unwrap();
            let want = ops::binary_bwd(&ac, &bc, &dyc, op, side).unwrap();
            assert_eq!(got.shape(), if side == Side::A { sa } else { sb });
            assert_close(
                &format!("{op:?} d{side:?} {sa:?}∘{sb:?}"),
                &got.to_vec().unwrap(),
                &want.to_vec().unwrap(),
                1e-5,
                1e-5,
            );
        }
    }
}

#[test]
fn binary_add_broadcasts_like_cpu() {
    check_binary(Binary::Add);
}
#[test]
fn binary_sub_broadcasts_like_cpu() {
    check_binary(Binary::Sub);
}
#[test]
fn binary_mul_broadcasts_like_cpu() {
    check_binary(Binary::Mul);
}
#[test]
fn binary_div_broadcasts_like_cpu() {
    check_binary(Binary::Div);
}

#[test]
fn fill_writes_every_element_of_a_view() {
    let Some(g) = gpu() else { return };
    let base = Tensor::zeros(&g.dev, &[5, 33]).unwrap();
    let view = base.view_range(1, 4).unwrap();
    ops::fill(&view, 2.5).unwrap();
    let v = base.to_vec().unwrap();
    for (i, &x) in v.iter().enumerate() {
        let want = if (33..4 * 33).contains(&i) { 2.5 } else { 0.0 };
        assert_eq!(x, want, "element {i}");
    }
    let full = Tensor::full(&g.dev, &[127], -1.25).unwrap().to_vec().unwrap();
    assert!(full.iter().all(|&x| x == -1.25));
    // Zero (a buffer clear) and −0.0 (the kernel) write only the view, in stream order.
    for zero in [0.0f32, -0.0] {
        ops::fill(&base, 7.0).unwrap();
        ops::fill(&view, zero).unwrap();
        let v = base.to_vec().unwrap();
        for (i, &x) in v.iter().enumerate() {
            let want = if (33..4 * 33).contains(&i) { zero } else { 7.0 };
            assert_eq!(x.to_bits(), want.to_bits(), "element {i} after filling {zero:?}");
        }
    }
}

#[test]
fn incompatible_broadcast_is_a_shape_error() {
    let a = Tensor::zeros(&Device::Cpu, &[3, 4]).unwrap();
    let b = Tensor::zeros(&Device::Cpu, &[5]).unwrap();
    let err = ops::binary(&a, &b, Binary::Add).unwrap_err();
    assert!(err.to_string().contains("not broadcastable"), "{err}");
}

#[test]
fn broadcast_needing_five_dims_is_a_shape_error() {
    let a = Tensor::zeros(&Device::Cpu, &[2, 3, 4, 5, 6]).unwrap();
    let b = Tensor::zeros(&Device::Cpu, &[3, 1, 5, 1]).unwrap();
    let err = ops::binary(&a, &b, Binary::Mul).unwrap_err();
    assert!(err.to_string().contains("need 5 dims"), "{err}");
}
