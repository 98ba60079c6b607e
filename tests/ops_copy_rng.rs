//! GPU copies, gathers, random fills and dropout against their CPU twins (outputs poisoned).
mod common;

use common::*;
use vdd::kernels::rng::Dist;
use vdd::tensor::ops;
use vdd::{Device, Tensor};

fn both(g: &Device, v: &[f32], shape: &[usize]) -> (Tensor, Tensor) {
    (Tensor::from_slice(g, v, shape).unwrap(), Tensor::from_slice(&Device::Cpu, v, shape).unwrap())
}

/// Slices, concats, permutes and their backward passes, on a block whose last axis has 2
/// elements (scalar kernel) and one whose last axis has 8 (the vec4 kernel wherever the last
/// axis stays contiguous and 4-aligned, the scalar one elsewhere).
#[test]
fn permute_slice_concat_match_cpu() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(51);
    for last in [2, 8] {
        let shape = [3, 5, 7, last];
        let x = rng.vec(shape.iter().product(), -1.0, 1.0);
        let (xg, xc) = both(&g.dev, &x, &shape);
        for perm in [[0, 1, 2, 3], [3, 2, 1, 0], [0, 2, 1, 3], [1, 0, 3, 2]] {
            let (a, b) = (ops::permute(&xg, &perm).unwrap(), ops::permute(&xc, &perm).unwrap());
            assert_eq!(a.shape(), b.shape());
            assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap(), "permute {perm:?} of {shape:?}");
        }
        for (dim, s, e) in [(0, 1, 3), (1, 0, 5), (2, 3, 4), (3, 1, 2), (2, 0, 0), (3, 0, last / 2), (3, 1, last)] {
            let (a, b) = (ops::slice(&xg, dim, s, e).unwrap(), ops::slice(&xc, dim, s, e).unwrap());
            assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap(), "slice {dim} {s}..{e} of {shape:?}");
            let (ga, gb) = (ops::slice_bwd(&a, &shape, dim, s).unwrap(), ops::slice_bwd(&b, &shape, dim, s).unwrap());
            assert_eq!(ga.to_vec().unwrap(), gb.to_vec().unwrap(), "slice_bwd {dim} {s}..{e} of {shape:?}");
        }
        let y = rng.vec(3 * 2 * 7 * last, -1.0, 1.0);
        let (yg, yc) = both(&g.dev, &y, &[3, 2, 7, last]);
        let (a, b) = (ops::concat(&[&xg, &yg, &xg], 1).unwrap(), ops::concat(&[&xc, &yc, &xc], 1).unwrap());
        assert_eq!(a.shape(), &[3, 12, 7, last]);
        assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap(), "concat of {shape:?}");
        // A view with an offset (aligned to 4 elements or not) copies from the right place.
        let row = 5 * 7 * last;
        for r in [1, 2] {
            let v = xg.view_range(r, r + 1).unwrap();
            assert_eq!(ops::copy(&v).unwrap().to_vec().unwrap(), x[r * row..][..row].to_vec(), "view {r}");
        }
    }
}

/// Copies that keep a contiguous, 4-aligned last axis run the vec4 kernel; others the scalar one.
#[test]
fn strided_copies_take_the_vec4_kernel_when_aligned() {
    let Some(g) = gpu() else { return };
    let gpu = g.dev.as_gpu().unwrap();
    let x = Tensor::from_slice(&g.dev, &Rng::new(53).vec(3 * 5 * 8, -1.0, 1.0), &[3, 5, 8]).unwrap();
    // The label and load width (define VW) of each dispatch a copy records.
    let kernels = |f: &dyn Fn() -> Tensor| {
        g.dev.sync().unwrap();
        gpu.start_profiling().unwrap();
        drop(f());
        let t = gpu.stop_profiling().unwrap();
        t.into_iter()
            .map(|t| (t.label, t.variant.split(',').find(|d| d.starts_with("VW=")).map(str::to_owned)))
            .collect::<Vec<_>>()
    };
    let copy = |vw: &str| vec![("copy/copy_strided.wgsl:main".to_owned(), Some(vw.to_owned()))];
    assert_eq!(kernels(&|| ops::permute(&x, &[1, 0, 2]).unwrap()), copy("VW=4"));
    assert_eq!(kernels(&|| ops::slice(&x, 2, 4, 8).unwrap()), copy("VW=4"));
    assert_eq!(kernels(&|| ops::slice(&x, 2, 1, 5).unwrap()), copy("VW=1"));
    assert_eq!(kernels(&|| ops::permute(&x, &[0, 2, 1]).unwrap()), copy("VW=1"));
}

#[test]
fn gather_rows_and_backward_match_cpu() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(52);
    let (rows, n) = (17, 33);
    let x = rng.vec(rows * n, -1.0, 1.0);
    let idx: Vec<u32> = (0..127).map(|i| ((i * 7 + 3) % rows) as u32).collect();
    let (xg, xc) = both(&g.dev, &x, &[rows, n]);
    let (a, b) = (ops::gather_rows(&xg, &idx).unwrap(), ops::gather_rows(&xc, &idx).unwrap());
    assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap());
    let dy = rng.vec(idx.len() * n, -1.0, 1.0);
    let (dg, dc) = both(&g.dev, &dy, &[idx.len(), n]);
    let (a, b) = (ops::gather_rows_bwd(&dg, &idx, rows).unwrap(), ops::gather_rows_bwd(&dc, &idx, rows).unwrap());
    assert_close("gather_rows_bwd", &a.to_vec().unwrap(), &b.to_vec().unwrap(), 1e-6, 1e-6);
    assert!(ops::gather_rows(&xc, &[17]).unwrap_err().to_string().contains("out of range"));
}

/// A row gathered 69 278 times (llvmpipe ends an invocation's loops after 65535 iterations in
/// total, silently): its gradient sums every copy, over several passes. Against f64.
#[test]
fn gather_rows_backward_sums_a_row_gathered_more_often_than_a_loop_may_run() {
    let Some(g) = gpu() else { return };
    let (rows, n) = (3, 2);
    let idx: Vec<u32> = (0..70_000u32).map(|i| if i % 97 == 3 { 2 } else { 0 }).collect();
    let dy = Rng::new(53).vec(idx.len() * n, 0.0, 1.0);
    let dg = Tensor::from_slice(&g.dev, &dy, &[idx.len(), n]).unwrap();
    let got: Vec<f64> =
        ops::gather_rows_bwd(&dg, &idx, rows).unwrap().to_vec().unwrap().into_iter().map(f64::from).collect();
    let d64 = Tensor::from_f64(&Device::CpuF64, &dy.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), &[idx.len(), n]);
    let want = ops::gather_rows_bwd(&d64.unwrap(), &idx, rows).unwrap().to_vec64().unwrap();
    assert!(want[0] > 30_000.0, "row 0 sums {} copies", idx.iter().filter(|&&r| r == 0).count());
    assert_close64("gather_rows_bwd, 69 278 copies of row 0", &got, &want, 0.05, 1e-5);
}

#[test]
fn random_fills_match_cpu_bits_and_moments() {
    let Some(g) = gpu() else { return };
    for &n in &[1, 3, 17, 33, 127, 100_003] {
        let u = Dist::Uniform { lo: -2.0, hi: 3.0 };
        let (a, b) = (ops::random(&g.dev, &[n], u, 99, 5).unwrap(), ops::random(&Device::Cpu, &[n], u, 99, 5).unwrap());
        assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap(), "uniform n={n} must be bit-identical");
        let z = Dist::Normal { mean: 0.5, std: 2.0 };
        let (a, b) = (ops::random(&g.dev, &[n], z, 99, 6).unwrap(), ops::random(&Device::Cpu, &[n], z, 99, 6).unwrap());
        // Box–Muller through the adapter's log/cos/sin: ~1e-5 relative to the radius, times std.
        assert_close(&format!("normal n={n}"), &a.to_vec().unwrap(), &b.to_vec().unwrap(), 5e-5 * 2.0, 1e-5);
    }
    let z = ops::random(&g.dev, &[200_000], Dist::Normal { mean: 0.0, std: 1.0 }, 1, 0).unwrap().to_vec().unwrap();
    let mean = z.iter().map(|&v| f64::from(v)).sum::<f64>() / z.len() as f64;
    let var = z.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / z.len() as f64;
    assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "normal moments: mean {mean}, var {var}");
    // Different seeds or offsets give different streams; the same ones repeat.
    let r = |s, o| ops::random(&g.dev, &[64], Dist::Uniform { lo: 0.0, hi: 1.0 }, s, o).unwrap().to_vec().unwrap();
    assert_eq!(r(3, 0), r(3, 0));
    assert_ne!(r(3, 0), r(4, 0));
    assert_ne!(r(3, 0), r(3, 1));
}

#[test]
fn dropout_matches_cpu_mask_and_rate() {
    let Some(g) = gpu() else { return };
    let n = 50_000;
    let x = Rng::new(53).vec(n, 0.5, 1.5);
    let (xg, xc) = both(&g.dev, &x, &[n]);
    let (a, b) = (
        ops::dropout(&xg, 0.3, 11, 2).unwrap().to_vec().unwrap(),
        ops::dropout(&xc, 0.3, 11, 2).unwrap().to_vec().unwrap(),
    );
    assert_close("dropout", &a, &b, 1e-6, 1e-6);
    let dropped = a.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
    assert!((dropped - 0.3).abs() < 0.01, "drop rate {dropped}");
    assert!(ops::dropout(&xc, 1.0, 0, 0).is_err());
}
