//! Differentiable ops: each runs the forward tensor op and records its backward, which is
//! written with the tensor ops' `*_bwd` counterparts (the derivative is in each op's docs).

use super::{Tape, Var};
use crate::cpu::elementwise::{Binary, Side, Unary};
use crate::cpu::gaussian::CholFill;
use crate::cpu::reduce::{Reduce, Softmax};
use crate::error::{Error, Result};
use crate::tensor::ops::{self as t, AttnDropout};
use crate::tensor::Tensor;

fn need(vars: &[&Var]) -> Vec<bool> {
    vars.iter().map(|v| v.requires_grad()).collect()
}

impl Tape<'_> {
    /// `x·w + b` over the last dim of `x` (`w: [in, out]`, `b: [out]`).
    /// Backward: `dx = dy·wᵀ`, `dw = xᵀ·dy`, `db = Σ_rows dy`.
    ///
    /// # Errors
    /// Shape or device errors of the op.
    pub fn linear(&self, x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
        let y = t::linear(&x.value, &w.value, b.map(|b| &b.value))?;
        Ok(self.linear_node(y, x, w, b, false))
    }

    /// Records the output `y` of `x·w + b`, or of `relu(x·w + b)` (`relu`: the backward first
    /// masks the gradient with `y > 0`), with the backward of [`linear_grads`].
    fn linear_node(&self, y: Tensor, x: &Var, w: &Var, b: Option<&Var>, relu: bool) -> Var {
        let mut inputs = vec![x, w];
        inputs.extend(b);
        let n = need(&inputs);
        let (xv, wv, yv) = (x.value.clone(), w.value.clone(), relu.then(|| y.clone()));
        let has_bias = b.is_some();
        let slots = self.param_slots(w, b);
        self.record_acc(y, &inputs, move |dy, acc| {
            let masked = yv.map(|y| t::unary_bwd(&y, dy, Unary::Relu)).transpose()?;
            linear_grads(&xv, &wv, masked.as_ref().unwrap_or(dy), has_bias, &n, slots.as_ref(), acc)
        })
    }

    /// `act(x·w + b)`: with nothing to differentiate, one fused op ([`t::linear_act`]). With
    /// gradients, ReLU stays fused too (its derivative is read off the output: `y > 0` exactly
    /// where `x·w + b > 0`); other activations run [`Tape::linear`] then [`Tape::unary`]
    /// (their backward needs the pre-activation).
    ///
    /// # Errors
    /// Shape or device errors of the ops.
    pub fn linear_act(&self, x: &Var, w: &Var, b: Option<&Var>, act: Unary) -> Result<Var> {
        let grads = x.requires_grad() || w.requires_grad() || b.is_some_and(Var::requires_grad);
        if grads && act != Unary::Relu || act.params() != [0.0, 0.0] {
            return self.unary(&self.linear(x, w, b)?, act);
        }
        let y = t::linear_act(&x.value, &w.value, b.map(|b| &b.value), act)?;
        Ok(if grads { self.linear_node(y, x, w, b, true) } else { self.constant(y) })
    }

    /// Batched `op(a)·op(b)` (see [`t::matmul`]). Backward: [`t::matmul_bwd`].
    ///
    /// # Errors
    /// Shape or device errors of the op.
    pub fn matmul(&self, a: &Var, b: &Var, trans_a: bool, trans_b: bool) -> Result<Var> {
        let y = t::matmul(&a.value, &b.value, trans_a, trans_b)?;
        let (av, bv) = (a.value.clone(), b.value.clone());
        let n = need(&[a, b]);
        Ok(self.record(y, &[a, b], move |dy| {
            let (da, db) = t::matmul_bwd_some(&av, &bv, dy, trans_a, trans_b, n[0], n[1])?;
            Ok(vec![da, db])
        }))
    }

    /// `f(x)` elementwise. Backward: `dy·f'(x)`.
    ///
    /// # Errors
    /// Device errors.
    pub fn unary(&self, x: &Var, op: Unary) -> Result<Var> {
        let y = t::unary(&x.value, op)?;
        let xv = x.value.clone();
        Ok(self.record(y, &[x], move |dy| Ok(vec![Some(t::unary_bwd(&xv, dy, op)?)])))
    }

    /// `a ∘ b` with broadcasting. Backward: the operand gradients summed over broadcast dims.
    ///
    /// # Errors
    /// Shape or device errors.
    pub fn binary(&self, a: &Var, b: &Var, op: Binary) -> Result<Var> {
        let y = t::binary(&a.value, &b.value, op)?;
        let (av, bv) = (a.value.clone(), b.value.clone());
        let n = need(&[a, b]);
        Ok(self.record(y, &[a, b], move |dy| {
            let da = if n[0] { Some(t::binary_bwd(&av, &bv, dy, op, Side::A)?) } else { None };
            let db = if n[1] { Some(t::binary_bwd(&av, &bv, dy, op, Side::B)?) } else { None };
            Ok(vec![da, db])
        }))
    }

    /// `a + b` (broadcasting).
    ///
    /// # Errors
    /// As [`Tape::binary`].
    pub fn add(&self, a: &Var, b: &Var) -> Result<Var> {
        self.binary(a, b, Binary::Add)
    }

    /// `a − b` (broadcasting).
    ///
    /// # Errors
    /// As [`Tape::binary`].
    pub fn sub(&self, a: &Var, b: &Var) -> Result<Var> {
        self.binary(a, b, Binary::Sub)
    }

    /// `a · b` (broadcasting).
    ///
    /// # Errors
    /// As [`Tape::binary`].
    pub fn mul(&self, a: &Var, b: &Var) -> Result<Var> {
        self.binary(a, b, Binary::Mul)
    }

    /// Reduction of the last dim (`[..., n] → [...]`). Backward: [`t::reduce_bwd`].
    ///
    /// # Errors
    /// Shape or device errors.
    pub fn reduce(&self, x: &Var, op: Reduce) -> Result<Var> {
        let y = t::reduce(&x.value, op)?;
        let (xv, yv) = (x.value.clone(), y.clone());
        Ok(self.record(y, &[x], move |dy| Ok(vec![Some(t::reduce_bwd(&xv, &yv, dy, op)?)])))
    }

    /// Mean of all elements, shape `[]`.
    ///
    /// # Errors
    /// Device errors.
    pub fn mean_all(&self, x: &Var) -> Result<Var> {
        let flat = self.reshape(x, &[x.value.numel()])?;
        self.reduce(&flat, Reduce::Mean)
    }

    /// Sum of all elements, shape `[]`.
    ///
    /// # Errors
    /// Device errors.
    pub fn sum_all(&self, x: &Var) -> Result<Var> {
        let flat = self.reshape(x, &[x.value.numel()])?;
        self.reduce(&flat, Reduce::Sum)
    }

    /// Softmax or log-softmax over the last dim. Backward: [`t::softmax_bwd`] from the output.
    ///
    /// # Errors
    /// Shape or device errors.
    pub fn softmax(&self, x: &Var, op: Softmax) -> Result<Var> {
        let y = t::softmax(&x.value, op)?;
        let yv = y.clone();
        Ok(self.record(y, &[x], move |dy| Ok(vec![Some(t::softmax_bwd(&yv, dy, op)?)])))
    }

    /// LayerNorm over the last dim with affine `gamma`, `beta`. Backward:
    /// [`t::layer_norm_bwd_acc`] (the input gradient added to the one gathered so far).
    ///
    /// # Errors
    /// Shape or device errors.
    pub fn layer_norm(&self, x: &Var, gamma: &Var, beta: &Var, eps: f32) -> Result<Var> {
        let (y, stats) = t::layer_norm(&x.value, &gamma.value, &beta.value, eps)?;
        let (xv, gv) = (x.value.clone(), gamma.value.clone());
        // With parameter leaves, dγ and dβ are added to the store's slots in the backward.
        let slots = self.param_slots(gamma, Some(beta));
        Ok(self.record_acc(y, &[x, gamma, beta], move |dy, acc| {
            let slots = slots.as_ref().and_then(|(g, b)| b.as_ref().map(|b| (g, b)));
            let (dx, dg, db) = t::layer_norm_bwd_acc(&xv, &gv, &stats, dy, acc, slots)?;
            Ok(vec![Some(dx), dg, db])
        }))
    }

    /// Causal multi-head attention over `[batch, tokens, heads·head_dim]` inputs, with
    /// attention-weight dropout `p` while training. Backward: [`t::attention_bwd`].
    ///
    /// # Errors
    /// Shape or device errors.
    pub fn attention(&self, q: &Var, k: &Var, v: &Var, heads: usize, p: f32) -> Result<Var> {
        let drop = if self.training && p > 0.0 {
            let (seed, offset) = self.next_stream();
            AttnDropout { prob: p, seed, offset }
        } else {
            AttnDropout::default()
        };
        let (o, lse) = t::attention(&q.value, &k.value, &v.value, heads, drop)?;
        let (qv, kv, vv, ov) = (q.value.clone(), k.value.clone(), v.value.clone(), o.clone());
        Ok(self.record(o, &[q, k, v], move |dy| {
            let (dq, dk, dv) = t::attention_bwd(&qv, &kv, &vv, &ov, &lse, dy, heads, drop)?;
            Ok(vec![Some(dq), Some(dk), Some(dv)])
        }))
    }

    /// Inverted dropout with probability `p` while training (identity otherwise). Backward:
    /// the same mask on the gradient.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `p` outside `[0, 1)`; device errors.
    pub fn dropout(&self, x: &Var, p: f32) -> Result<Var> {
        if !self.training || p == 0.0 {
            return Ok(x.clone());
        }
        let (seed, offset) = self.next_stream();
        let y = t::dropout(&x.value, p, seed, offset)?;
        Ok(self.record(y, &[x], move |dy| Ok(vec![Some(t::dropout(dy, p, seed, offset)?)])))
    }

    /// The same data in another shape.
    ///
    /// # Errors
    /// [`Error::Shape`] if the element counts differ.
    pub fn reshape(&self, x: &Var, shape: &[usize]) -> Result<Var> {
        let y = x.value.reshape(shape)?;
        let orig = x.shape().to_vec();
        Ok(self.record(y, &[x], move |dy| Ok(vec![Some(dy.reshape(&orig)?)])))
    }

    /// Elements `start..end` along `dim`. Backward: the gradient placed back in zeros.
    ///
    /// # Errors
    /// Shape errors.
    pub fn slice(&self, x: &Var, dim: usize, start: usize, end: usize) -> Result<Var> {
        let y = t::slice(&x.value, dim, start, end)?;
        let full = x.shape().to_vec();
        Ok(self.record(y, &[x], move |dy| Ok(vec![Some(t::slice_bwd(dy, &full, dim, start)?)])))
    }

    /// Concatenation along `dim`. Backward: slices of the gradient.
    ///
    /// # Errors
    /// Shape or device errors.
    pub fn concat(&self, xs: &[&Var], dim: usize) -> Result<Var> {
        let values: Vec<&Tensor> = xs.iter().map(|v| &v.value).collect();
        let y = t::concat(&values, dim)?;
        let lens: Vec<usize> = xs.iter().map(|v| v.shape()[dim]).collect();
        let n = need(xs);
        Ok(self.record(y, xs, move |dy| {
            let mut at = 0;
            let mut out = Vec::with_capacity(lens.len());
            for (len, need) in lens.iter().zip(&n) {
                out.push(if *need { Some(t::slice(dy, dim, at, at + len)?) } else { None });
                at += len;
            }
            Ok(out)
        }))
    }

    /// Dimension permutation (rank ≤ 4). Backward: the inverse permutation.
    ///
    /// # Errors
    /// Shape errors.
    pub fn permute(&self, x: &Var, perm: &[usize]) -> Result<Var> {
        let y = t::permute(&x.value, perm)?;
        let mut inv = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i;
        }
        Ok(self.record(y, &[x], move |dy| Ok(vec![Some(t::permute(dy, &inv)?)])))
    }

    /// Rows of `x` picked by `idx`. Backward: rows summed back in index order.
    ///
    /// # Errors
    /// Index or shape errors.
    pub fn gather_rows(&self, x: &Var, idx: &[u32]) -> Result<Var> {
        let y = t::gather_rows(&x.value, idx)?;
        let (idx, rows) = (idx.to_vec(), x.shape()[0]);
        Ok(self.record(y, &[x], move |dy| Ok(vec![Some(t::gather_rows_bwd(dy, &idx, rows)?)])))
    }

    /// Lower Cholesky factors from a head's raw outputs `[..., k]` → `[..., d, d]`
    /// ([`t::chol_fill`]). Backward: [`t::chol_fill_bwd`].
    ///
    /// # Errors
    /// Shape or device errors.
    pub fn chol_fill(&self, raw: &Var, c: CholFill) -> Result<Var> {
        let y = t::chol_fill(&raw.value, &c)?;
        let rv = raw.value.clone();
        Ok(self.record(y, &[raw], move |dl| Ok(vec![Some(t::chol_fill_bwd(&rv, dl, &c)?)])))
    }

    /// Mean squared error `mean((x − target)²)` as a scalar `[]`.
    ///
    /// # Errors
    /// Shape or device errors.
    pub fn mse(&self, x: &Var, target: &Var) -> Result<Var> {
        if x.shape() != target.shape() {
            return Err(Error::shape("mse", format!("{:?} vs {:?}", x.shape(), target.shape())));
        }
        let d = self.sub(x, target)?;
        let sq = self.unary(&d, Unary::Square)?;
        self.mean_all(&sq)
    }
}

/// Gradient slots of a linear layer's weight and bias in the parameter store.
type Slots = (Tensor, Option<Tensor>);

/// Gradients of `x·w (+ b)` given the output's `dz`, for the inputs flagged in `n`
/// (`[x, w, b]`): the backward of [`Tape::linear`] and of fused-ReLU [`Tape::linear_act`].
/// With the parameters' gradient `slots`, their gradients are added there directly
/// ([`t::linear_grads_acc`]) and none is returned for them. `acc`, the gradient of `x`
/// accumulated so far, comes back with `dx` added ([`t::linear_bwd_input_acc`]).
fn linear_grads(
    x: &Tensor,
    w: &Tensor,
    dz: &Tensor,
    has_bias: bool,
    n: &[bool],
    slots: Option<&Slots>,
    acc: Option<Tensor>,
) -> Result<Vec<Option<Tensor>>> {
    let dx = if n[0] { Some(t::linear_bwd_input_acc(w, dz, x.shape(), acc)?) } else { None };
    if let Some((gw, gb)) = slots {
        t::linear_grads_acc(x, dz, gw, gb.as_ref())?;
        return Ok(vec![dx, None, None]);
    }
    let (dw, db) = t::linear_bwd_params(x, w, dz, has_bias && n.get(2) == Some(&true))?;
    let mut out = vec![dx, n[1].then_some(dw)];
    if has_bias {
        out.push(db);
    }
    Ok(out)
}
