//! Vectorisable f32 transcendentals for the CPU device: straight-line code without calls, so
//! LLVM vectorises the elementwise loops (libm's `expf` & co. are scalar calls). Cephes-style
//! range reduction and polynomials, relative error ≈ 1e-7; `erf` is the same approximation the
//! GPU kernels use (`erf_approx` in the WGSL prelude). The f64 CPU device keeps libm.

const LOG2E: f32 = std::f32::consts::LOG2_E;

/// `eˣ` (underflows to 0 below ≈ −87.3, saturates near 88.7).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    let fx = (x * LOG2E + 0.5).floor();
    let r = x - fx * 0.693_359_4 - fx * -2.121_944_4e-4;
    let z = r * r;
    let p = (((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 5e-1)
        * z
        + r
        + 1.0;
    // 2^fx without a saturating float-to-int conversion (which does not vectorise cleanly):
    // adding 1.5·2²³ leaves the integer fx in the low mantissa bits.
    let n = (fx + 12_582_912.0).to_bits().wrapping_sub(0x4b40_0000);
    p * f32::from_bits(n.wrapping_add(127) << 23)
}

/// Natural logarithm of a positive finite `x`.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // mantissa in [0.5, 1)
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    e -= i32::from(small);
    m = if small { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    // Cephes logf polynomial, Horner form.
    let c = [
        7.037_683_6e-2,
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_5e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ];
    let mut poly = c[0];
    for &k in &c[1..] {
        poly = poly * m + k;
    }
    let mut y = poly * m * z;
    let ef = e as f32;
    y += -2.121_944_4e-4 * ef;
    y += -0.5 * z;
    m + y + 0.693_359_4 * ef
}

/// `ln(1 + eˣ)` (softplus), linear above 20 as PyTorch.
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    let e = exp(x.min(20.0));
    // log1p(e) = ln(u)·e/(u − 1) with u = 1 + e corrects the rounding of u (Goldberg's trick);
    // u == 1 means e is below half an ulp of 1, where log1p(e) = e.
    let u = 1.0 + e;
    let l = if u == 1.0 { e } else { ln(u) * (e / (u - 1.0)) };
    if x > 20.0 {
        x
    } else {
        l
    }
}

/// `tanh x`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let poly =
        ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z - 3.333_328e-1) * z * x
            + x;
    // Capped at 20 (exp(40) is finite); beyond ≈ 9 the result rounds to exactly 1.
    let big = 1.0 - 2.0 / (exp(2.0 * a.min(20.0)) + 1.0);
    if a > 0.625 {
        big.copysign(x)
    } else {
        poly
    }
}

/// `erf x` to ≈ 4.5e-7 absolute in f32: an odd rational minimax fit on [-4, 4] (Eigen's and
/// XLA's `erf` for f32; beyond ±4 erf is ±1 in f32), no exponential and one division — the same
/// formula as the GPU kernels (`erf_approx` in shaders/common/prelude.wgsl).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = -2.726_142_3e-10_f32;
    let p = p * x2 + 2.770_681_4e-8;
    let p = p * x2 - 2.101_024e-6;
    let p = p * x2 - 5.692_506_4e-5;
    let p = p * x2 - 7.349_906_3e-4;
    let p = p * x2 - 2.954_6e-3;
    let p = p * x2 - 1.609_603_3e-2;
    let q = -1.456_607_15e-5_f32;
    let q = q * x2 - 2.133_740_5e-4;
    let q = q * x2 - 1.682_827e-3;
    let q = q * x2 - 7.373_329_3e-3;
    let q = q * x2 - 1.426_473_9e-2;
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f32, b: f64) -> f64 {
        (f64::from(a) - b).abs() / b.abs().max(1e-30)
    }

    #[test]
    fn fast_functions_match_libm() {
        let (mut e_exp, mut e_ln, mut e_tanh, mut e_erf, mut e_sp) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for i in 0..200_000 {
            let x = -30.0 + 60.0 * (i as f32) / 200_000.0;
            let xd = f64::from(x);
            if xd > -80.0 {
                e_exp = e_exp.max(rel(exp(x), xd.exp()));
            }
            let p = (x + 30.5) * 3.0;
            e_ln = e_ln.max(rel(ln(p), f64::from(p).ln()));
            e_tanh = e_tanh.max((f64::from(tanh(x)) - xd.tanh()).abs());
            e_erf = e_erf.max((f64::from(erf(x)) - libm::erf(xd)).abs());
            e_sp = e_sp.max(rel(softplus(x), if xd > 20.0 { xd } else { xd.exp().ln_1p() }));
        }
        assert!(e_exp < 3e-7, "exp rel err {e_exp}");
        assert!(e_ln < 3e-7, "ln rel err {e_ln}");
        assert!(e_tanh < 3e-7, "tanh abs err {e_tanh}");
        assert!(e_erf < 5e-7, "erf abs err {e_erf}");
        assert!(e_sp < 1e-6, "softplus rel err {e_sp}");
    }
}
