//! Matrix products: batched `matmul` with transpose flags, `linear` (x·W + b), `linear_act`
//! (an activation fused into the product), and their gradients.

use super::{add_into, span, sum_leading, unary};
use crate::cpu::elementwise::Unary;
use crate::cpu::gemm::{self as cpu, GemmShape};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::matmul as k;
use crate::tensor::{by_precision, numel, same_device, Elem, Tensor};

fn gemm_cpu<T: Elem>(s: &GemmShape, a: &Tensor, b: &Tensor, bias: Option<&Tensor>, shape: &[usize]) -> Result<Tensor> {
    let (av, bv) = (T::view(a), T::view(b));
    let biasv = bias.map(T::view);
    let mut c = vec![T::zero(); s.c_len()];
    cpu::gemm(s, &av, &bv, biasv.as_deref(), &mut c);
    Ok(T::tensor(c, shape))
}

/// Runs one GEMM on the tensors' device; the output gets `shape`.
pub(crate) fn gemm(s: &GemmShape, a: &Tensor, b: &Tensor, bias: Option<&Tensor>, shape: &[usize]) -> Result<Tensor> {
    gemm_act(s, a, b, bias, None, shape)
}

/// [`gemm`] followed by `act`: fused into the product's store on the GPU; on the CPU the
/// product, then [`unary`].
fn gemm_act(
    s: &GemmShape,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    act: Option<Unary>,
    shape: &[usize],
) -> Result<Tensor> {
    if a.numel() < s.a_len() || b.numel() < s.b_len() || bias.is_some_and(|x| x.numel() != s.n) {
        return Err(Error::shape(
            "gemm",
            format!("{s:?} with a {:?}, b {:?}, bias {:?}", a.shape(), b.shape(), bias.map(|x| x.shape().to_vec())),
        ));
    }
    let mut ts = vec![a, b];
    ts.extend(bias);
    match same_device("matmul", &ts)? {
        Device::Gpu(g) => {
            let c = Tensor::uninit(&g, shape)?;
            k::gemm_act(&g, s, span(a), span(b), bias.map(span), act, span(&c))?;
            Ok(c)
        }
        d => {
            let c = by_precision!(d, gemm_cpu(s, a, b, bias, shape))?;
            match act {
                Some(u) => unary(&c, u),
                None => Ok(c),
            }
        }
    }
}

/// Shape analysis of a batched product: (gemm shape, output shape).
fn analyse(a: &[usize], b: &[usize], trans_a: bool, trans_b: bool) -> Result<(GemmShape, Vec<usize>)> {
    if a.len() < 2 || b.len() < 2 {
        return Err(Error::shape("matmul", format!("operands need rank ≥ 2, got {a:?} and {b:?}")));
    }
    let (ab, am) = a.split_at(a.len() - 2);
    let (bb, bm) = b.split_at(b.len() - 2);
    let (m, ka) = if trans_a { (am[1], am[0]) } else { (am[0], am[1]) };
    let (kb, n) = if trans_b { (bm[1], bm[0]) } else { (bm[0], bm[1]) };
    if ka != kb {
        return Err(Error::shape(
            "matmul",
            format!(
                "inner dimensions differ: {a:?}{} · {b:?}{}",
                if trans_a { "ᵀ" } else { "" },
                if trans_b { "ᵀ" } else { "" }
            ),
        ));
    }
    let (na, nb) = (numel(ab), numel(bb));
    let batch_shape = match (na, nb) {
        _ if ab == bb => ab.to_vec(),
        (_, 1) if bb.iter().all(|&d| d == 1) => ab.to_vec(),
        (1, _) if ab.iter().all(|&d| d == 1) => bb.to_vec(),
        _ => return Err(Error::shape("matmul", format!("batch dimensions {ab:?} and {bb:?} do not broadcast"))),
    };
    let batch = numel(&batch_shape);
    let s = GemmShape {
        batch,
        m,
        n,
        k: ka,
        trans_a,
        trans_b,
        batch_stride_a: if na == 1 && batch > 1 { 0 } else { m * ka },
        batch_stride_b: if nb == 1 && batch > 1 { 0 } else { ka * n },
        alpha: 1.0,
    };
    let mut out = batch_shape;
    out.extend([m, n]);
    Ok((s, out))
}

/// Batched matrix product `op(a)·op(b)` over the last two dims; leading (batch) dims must be
/// equal or absent/1 on one side (broadcast).
///
/// # Shapes
/// `a: [..., m, k]` (`[..., k, m]` if `trans_a`), `b: [..., k, n]` (`[..., n, k]` if `trans_b`)
/// → `[..., m, n]`.
///
/// # Errors
/// [`Error::Shape`] for mismatched inner or batch dims; device mismatch; GPU errors.
pub fn matmul(a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
    let (s, out) = analyse(a.shape(), b.shape(), trans_a, trans_b)?;
    gemm(&s, a, b, None, &out)
}

/// Sums a `[batch, ...]` gradient over the batch when the operand was broadcast.
fn unbroadcast(g: Tensor, batch: usize, operand: &Tensor) -> Result<Tensor> {
    if g.numel() == operand.numel() {
        return g.reshape(operand.shape());
    }
    sum_leading(&g.reshape(&[batch, operand.numel()])?)?.reshape(operand.shape())
}

/// Gradients of [`matmul`]: `(da, db)` from the output gradient `dc`
/// (`d op(a) = dc·op(b)ᵀ`, `d op(b) = op(a)ᵀ·dc`, mapped back through the transposes and summed
/// over broadcast batch dims).
///
/// # Errors
/// [`Error::Shape`] if `dc` is not the product's shape; device mismatch; GPU errors.
pub fn matmul_bwd(a: &Tensor, b: &Tensor, dc: &Tensor, trans_a: bool, trans_b: bool) -> Result<(Tensor, Tensor)> {
    let (da, db) = matmul_bwd_some(a, b, dc, trans_a, trans_b, true, true)?;
    Ok((da.expect("requested"), db.expect("requested")))
}

/// [`matmul_bwd`] computing only the requested gradients.
///
/// # Errors
/// As [`matmul_bwd`].
pub fn matmul_bwd_some(
    a: &Tensor,
    b: &Tensor,
    dc: &Tensor,
    trans_a: bool,
    trans_b: bool,
    need_a: bool,
    need_b: bool,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (s, out) = analyse(a.shape(), b.shape(), trans_a, trans_b)?;
    if dc.shape() != out.as_slice() {
        return Err(Error::shape("matmul_bwd", format!("dc {:?} vs output {out:?}", dc.shape())));
    }
    let (m, n, k, batch) = (s.m, s.n, s.k, s.batch);
    let cs = m * n;
    let stride = |x: bool, len: usize| {
        if batch > 1 {
            if x {
                0
            } else {
                len
            }
        } else {
            len
        }
    };
    let da_full = if !need_a {
        None
    } else if !trans_a {
        let sd = GemmShape {
            batch,
            m,
            n: k,
            k: n,
            trans_a: false,
            trans_b: !trans_b,
            batch_stride_a: cs,
            batch_stride_b: stride(s.batch_stride_b == 0, k * n),
            alpha: 1.0,
        };
        Some(gemm(&sd, dc, b, None, &[batch, m, k])?)
    } else {
        let sd = GemmShape {
            batch,
            m: k,
            n: m,
            k: n,
            trans_a: trans_b,
            trans_b: true,
            batch_stride_a: stride(s.batch_stride_b == 0, k * n),
            batch_stride_b: cs,
            alpha: 1.0,
        };
        Some(gemm(&sd, b, dc, None, &[batch, k, m])?)
    };
    let db_full = if !need_b {
        None
    } else if !trans_b {
        let sd = GemmShape {
            batch,
            m: k,
            n,
            k: m,
            trans_a: !trans_a,
            trans_b: false,
            batch_stride_a: stride(s.batch_stride_a == 0, m * k),
            batch_stride_b: cs,
            alpha: 1.0,
        };
        Some(gemm(&sd, a, dc, None, &[batch, k, n])?)
    } else {
        let sd = GemmShape {
            batch,
            m: n,
            n: k,
            k: m,
            trans_a: true,
            trans_b: trans_a,
            batch_stride_a: cs,
            batch_stride_b: stride(s.batch_stride_a == 0, m * k),
            alpha: 1.0,
        };
        Some(gemm(&sd, dc, a, None, &[batch, n, k])?)
    };
    let da = da_full.map(|g| unbroadcast(g, batch, a)).transpose()?;
    let db = db_full.map(|g| unbroadcast(g, batch, b)).transpose()?;
    Ok((da, db))
}

/// `x·w + bias` over the last dim of `x`.
///
/// # Shapes
/// `x: [..., in]`, `w: [in, out]`, `bias: [out]` → `[..., out]`.
///
/// # Errors
/// [`Error::Shape`] on mismatched dims; device mismatch; GPU errors.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    if w.rank() != 2 || x.rank() == 0 || x.last_dim() != w.shape()[0] {
        return Err(Error::shape("linear", format!("x {:?} · w {:?}", x.shape(), w.shape())));
    }
    let (fan_in, fan_out) = (w.shape()[0], w.shape()[1]);
    let rows = x.numel() / fan_in.max(1);
    let mut out = x.shape().to_vec();
    *out.last_mut().expect("rank ≥ 1") = fan_out;
    gemm(&GemmShape::new(rows, fan_out, fan_in), x, w, bias, &out)
}

/// `act(x·w + b)`: [`linear`] and a parameterless activation in one pass — on the GPU the
/// activation is applied in the product's store (one dispatch instead of two); on the CPU
/// device it is [`linear`] followed by [`unary`]. No gradient (acting, sampling): the tape
/// keeps the two ops apart when it records backward.
///
/// # Shapes
/// `x [.., in]`, `w [in, out]`, `b [out]` → `[.., out]`.
///
/// # Errors
/// [`Error::Shape`] on mismatched dims; [`Error::InvalidArgument`] for an activation with
/// parameters (scale, shift, clamp); device errors.
pub fn linear_act(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, act: Unary) -> Result<Tensor> {
    if w.rank() != 2 || x.rank() == 0 || x.last_dim() != w.shape()[0] {
        return Err(Error::shape("linear_act", format!("x {:?} · w {:?}", x.shape(), w.shape())));
    }
    if act.params() != [0.0, 0.0] {
        return Err(Error::invalid("linear_act", format!("{act:?} has parameters; only activations fuse")));
    }
    let (fan_in, fan_out) = (w.shape()[0], w.shape()[1]);
    let rows = x.numel() / fan_in.max(1);
    let mut out = x.shape().to_vec();
    *out.last_mut().expect("rank ≥ 1") = fan_out;
    gemm_act(&GemmShape::new(rows, fan_out, fan_in), x, w, bias, Some(act), &out)
}

/// Gradients of [`linear`]: `(dx, dw, dbias)` with `dx = dy·wᵀ`, `dw = xᵀ·dy`,
/// `dbias = Σ_rows dy` (only when `with_bias`).
///
/// # Errors
/// [`Error::Shape`] on mismatched dims; device mismatch; GPU errors.
pub fn linear_bwd(x: &Tensor, w: &Tensor, dy: &Tensor, with_bias: bool) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let (dw, db) = linear_bwd_params(x, w, dy, with_bias)?;
    Ok((linear_bwd_input(w, dy, x.shape())?, dw, db))
}

/// The parameter gradients of `x·w (+ b)`: `dw = xᵀ·dy` and, `with_bias`, `db = Σ_rows dy`.
///
/// # Shapes
/// As [`linear_bwd`].
///
/// # Errors
/// [`Error::Shape`] on mismatched shapes; device errors.
pub fn linear_bwd_params(x: &Tensor, w: &Tensor, dy: &Tensor, with_bias: bool) -> Result<(Tensor, Option<Tensor>)> {
    let (fan_in, fan_out) = (w.shape()[0], w.shape()[1]);
    let rows = x.numel() / fan_in.max(1);
    if dy.numel() != rows * fan_out || x.numel() != rows * fan_in {
        return Err(Error::shape("linear_bwd", format!("x {:?}, w {:?}, dy {:?}", x.shape(), w.shape(), dy.shape())));
    }
    let sw = GemmShape { trans_a: true, ..GemmShape::new(fan_in, fan_out, rows) };
    let dw = gemm(&sw, x, dy, None, w.shape())?;
    let db = if with_bias { Some(sum_leading(&dy.reshape(&[rows, fan_out])?)?) } else { None };
    Ok((dw, db))
}

/// The input gradient of `x·w (+ b)`: `dx = dy·wᵀ`, shaped `x_shape`.
///
/// # Shapes
/// `w: [fan_in, fan_out]`, `dy: [.., fan_out]`, `x_shape: [.., fan_in]` with as many rows.
///
/// # Errors
/// [`Error::Shape`] on mismatched shapes; device errors.
pub fn linear_bwd_input(w: &Tensor, dy: &Tensor, x_shape: &[usize]) -> Result<Tensor> {
    gemm(&input_grad_shape(w, dy, x_shape)?, dy, w, None, x_shape)
}

/// The product `dy·wᵀ` of [`linear_bwd_input`], after checking the shapes.
fn input_grad_shape(w: &Tensor, dy: &Tensor, x_shape: &[usize]) -> Result<GemmShape> {
    let (fan_in, fan_out) = (w.shape()[0], w.shape()[1]);
    let rows = numel(x_shape) / fan_in.max(1);
    if dy.numel() != rows * fan_out || numel(x_shape) != rows * fan_in {
        return Err(Error::shape("linear_bwd_input", format!("x {x_shape:?}, w {:?}, dy {:?}", w.shape(), dy.shape())));
    }
    Ok(GemmShape { trans_b: true, ..GemmShape::new(rows, fan_in, fan_out) })
}

/// [`linear_bwd_input`] added to `acc` (the gradient of `x` gathered so far, if any): on the
/// GPU the product adds itself to `acc` in its store when `acc` is held nowhere else and the
/// subgroup kernel runs the shape; otherwise the product, then a sum.
///
/// # Shapes
/// As [`linear_bwd_input`]; `acc` shaped `x_shape`.
///
/// # Errors
/// [`Error::Shape`] on mismatched shapes; device errors.
pub fn linear_bwd_input_acc(w: &Tensor, dy: &Tensor, x_shape: &[usize], acc: Option<Tensor>) -> Result<Tensor> {
    let Some(acc) = acc else { return linear_bwd_input(w, dy, x_shape) };
    if acc.shape() != x_shape {
        return Err(Error::shape("linear_bwd_input_acc", format!("gradient {:?} for x {x_shape:?}", acc.shape())));
    }
    if let (Device::Gpu(g), true) = (same_device("linear_bwd_input_acc", &[w, dy, &acc])?, acc.is_exclusive()) {
        let sx = input_grad_shape(w, dy, x_shape)?;
        if k::gemm_acc(&g, &sx, span(dy), span(w), span(&acc))? {
            return Ok(acc);
        }
    }
    super::binary(&acc, &linear_bwd_input(w, dy, x_shape)?, crate::cpu::elementwise::Binary::Add)
}

/// Adds a linear layer's parameter gradients to `grad_w` and `grad_b` (typically slots of a
/// parameter store's gradient buffer): `grad_w += xᵀ·dy` and `grad_b += Σ_rows dy`. On the GPU,
/// when the bias slot directly follows the weight slot, both come out of one product written
/// straight into the slots ([`k::linear_grads_acc`]); otherwise the gradients are computed and
/// then added.
///
/// # Shapes
/// `x: [.., fan_in]`, `dy: [.., fan_out]` with the same number of rows, `grad_w: [fan_in,
/// fan_out]`, `grad_b: [fan_out]`.
///
/// # Errors
/// [`Error::Shape`] on mismatched shapes; device errors.
pub fn linear_grads_acc(x: &Tensor, dy: &Tensor, grad_w: &Tensor, grad_b: Option<&Tensor>) -> Result<()> {
    let (fan_in, fan_out) = match grad_w.shape() {
        &[i, o] => (i, o),
        other => return Err(Error::shape("linear_grads_acc", format!("weight gradient {other:?}"))),
    };
    let rows = x.numel() / fan_in.max(1);
    if x.numel() != rows * fan_in || dy.numel() != rows * fan_out || grad_b.is_some_and(|b| b.numel() != fan_out) {
        return Err(Error::shape(
            "linear_grads_acc",
            format!(
                "x {:?}, dy {:?}, grad_w {:?}, grad_b {:?}",
                x.shape(),
                dy.shape(),
                grad_w.shape(),
                grad_b.map(Tensor::shape)
            ),
        ));
    }
    let mut ts = vec![x, dy, grad_w];
    ts.extend(grad_b);
    if let Device::Gpu(g) = same_device("linear_grads_acc", &ts)? {
        let joined = grad_b.is_none_or(|b| {
            std::ptr::eq(b.buffer(), grad_w.buffer()) && b.off() as usize == grad_w.off() as usize + grad_w.numel()
        });
        if joined
            && k::linear_grads_acc(&g, rows, fan_in, fan_out, span(x), span(dy), grad_b.is_some(), span(grad_w), None)?
        {
            return Ok(());
        }
    }
    // The weight gradient has the weight's shape, all linear_bwd_params reads of the weight.
    let (dw, db) = linear_bwd_params(x, grad_w, dy, grad_b.is_some())?;
    add_into(grad_w, &dw)?;
    if let (Some(b), Some(db)) = (grad_b, db) {
        add_into(b, &db)?;
    }
    Ok(())
}

/// [`linear_grads_acc`] with an explicit subgroup-kernel configuration and k-splits (tests):
/// adds `xᵀ·dy` to the first `fan_in` rows of `grad` and, `with_bias`, `Σ_rows dy` to its
/// row `fan_in`, in one product.
///
/// # Shapes
/// `x: [rows, fan_in]`, `dy: [rows, fan_out]`, `grad: [fan_in (+ 1), fan_out]`.
///
/// # Errors
/// [`Error::InvalidArgument`] on a CPU device or when the configuration cannot run the
/// product; [`Error::Shape`] on mismatched shapes; GPU errors.
pub fn linear_grads_acc_with(
    cfg: k::GemmConfig,
    splits: usize,
    x: &Tensor,
    dy: &Tensor,
    grad: &Tensor,
    with_bias: bool,
) -> Result<()> {
    let Device::Gpu(g) = same_device("linear_grads_acc_with", &[x, dy, grad])? else {
        return Err(Error::invalid("linear_grads_acc_with", "explicit kernel configurations need a GPU device"));
    };
    let (rows, fan_in) = match x.shape() {
        &[r, i] => (r, i),
        other => return Err(Error::shape("linear_grads_acc_with", format!("x {other:?}"))),
    };
    let fan_out = dy.numel() / rows.max(1);
    if dy.numel() != rows * fan_out || grad.numel() != (fan_in + usize::from(with_bias)) * fan_out {
        return Err(Error::shape(
            "linear_grads_acc_with",
            format!("x {:?}, dy {:?}, grad {:?}", x.shape(), dy.shape(), grad.shape()),
        ));
    }
    k::linear_grads_acc(&g, rows, fan_in, fan_out, span(x), span(dy), with_bias, span(grad), Some((cfg, splits)))?;
    Ok(())
}

/// Runs one GPU product with an explicit kernel configuration and k-splits (kernel sweeps and
/// tests); the output has shape `[batch, m, n]`.
///
/// # Errors
/// [`Error::InvalidArgument`] on a CPU device or when the configuration cannot run the shape;
/// GPU errors.
pub fn gemm_with(
    cfg: k::GemmConfig,
    splits: usize,
    s: &GemmShape,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let Device::Gpu(g) = same_device("gemm_with", &[a, b])? else {
        return Err(Error::invalid("gemm_with", "explicit kernel configurations need a GPU device"));
    };
    if a.numel() < s.a_len() || b.numel() < s.b_len() || bias.is_some_and(|x| x.numel() != s.n) {
        return Err(Error::shape("gemm_with", format!("{s:?} with a {:?}, b {:?}", a.shape(), b.shape())));
    }
    let c = Tensor::uninit(&g, &[s.batch, s.m, s.n])?;
    k::gemm_with(&g, cfg, splits, s, span(a), span(b), bias.map(span), span(&c))?;
    Ok(c)
}
