//! Data movement: copies, permutes, slices, concatenation and row gathers, with their
//! gradients (slices and concat are each other's backward; permutes invert).

use super::span;
use crate::cpu::copy::{self as cpu, Strided, COPY_RANK};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::copy as k;
use crate::tensor::{by_precision, numel, same_device, Elem, Tensor};

fn contiguous_strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Pads a ≤4-D frame to exactly 4 dims (leading 1s).
fn frame(dims: &[usize], strides: &[usize]) -> ([usize; COPY_RANK], [usize; COPY_RANK]) {
    let (mut d, mut s) = ([1; COPY_RANK], [0; COPY_RANK]);
    let off = COPY_RANK - dims.len();
    d[off..].copy_from_slice(dims);
    s[off..].copy_from_slice(strides);
    (d, s)
}

fn block_cpu<T: Elem>(dims: [usize; COPY_RANK], src: &Tensor, s: Strided, dst: &Tensor, d: Strided, acc: bool) {
    let sv = T::view(src);
    let mut dv = T::view_mut(dst);
    cpu::copy_strided(dims, &sv, s, &mut dv, d, acc);
}

/// `dst (+)= src` over a strided ≤4-D block (offsets relative to each tensor's start).
fn block(
    dims: &[usize],
    src: &Tensor,
    s_off: usize,
    s_str: &[usize],
    dst: &Tensor,
    d_off: usize,
    d_str: &[usize],
    acc: bool,
) -> Result<()> {
    let (dims, ss) = frame(dims, s_str);
    let (_, ds) = frame(&dims[COPY_RANK - d_str.len()..], d_str);
    let (s, d) = (Strided { offset: s_off, strides: ss }, Strided { offset: d_off, strides: ds });
    if dims.iter().product::<usize>() == 0 {
        return Ok(());
    }
    match same_device("copy", &[src, dst])? {
        Device::Gpu(g) => k::copy_strided(&g, dims, span(src), s, span(dst), d, acc),
        dev => {
            by_precision!(dev, block_cpu(dims, src, s, dst, d, acc));
            Ok(())
        }
    }
}

fn empty_like(device: &Device, shape: &[usize]) -> Result<Tensor> {
    match device {
        Device::Gpu(g) => Tensor::uninit(g, shape),
        d => Tensor::zeros(d, shape),
    }
}

/// A copy with its own storage.
///
/// # Errors
/// GPU errors.
pub fn copy(x: &Tensor) -> Result<Tensor> {
    let y = empty_like(&x.device(), x.shape())?;
    let n = x.numel();
    block(&[n], x, 0, &[1], &y, 0, &[1], false)?;
    Ok(y)
}

/// `x` itself if it starts at offset 0 of its storage, else a copy that does (GPU kernels that
/// index from the buffer start need this).
///
/// # Errors
/// GPU errors.
pub fn contiguous(x: &Tensor) -> Result<Tensor> {
    if x.offset() == 0 {
        Ok(x.clone())
    } else {
        copy(x)
    }
}

/// Reorders dimensions: output dim `i` is input dim `perm[i]` (rank ≤ 4).
///
/// # Errors
/// [`Error::Shape`] unless `perm` is a permutation of `0..rank` with rank ≤ 4; GPU errors.
pub fn permute(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let r = x.rank();
    let mut seen = vec![false; r];
    if perm.len() != r || r > COPY_RANK || perm.iter().any(|&p| p >= r || std::mem::replace(&mut seen[p], true)) {
        return Err(Error::shape("permute", format!("{perm:?} for shape {:?} (rank ≤ {COPY_RANK})", x.shape())));
    }
    let src_str = contiguous_strides(x.shape());
    let out: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
    let s_str: Vec<usize> = perm.iter().map(|&p| src_str[p]).collect();
    let y = empty_like(&x.device(), &out)?;
    block(&out, x, 0, &s_str, &y, 0, &contiguous_strides(&out), false)?;
    Ok(y)
}

/// Swaps two dimensions (rank ≤ 4).
///
/// # Errors
/// As [`permute`].
pub fn transpose(x: &Tensor, d0: usize, d1: usize) -> Result<Tensor> {
    let mut perm: Vec<usize> = (0..x.rank()).collect();
    if d0 >= perm.len() || d1 >= perm.len() {
        return Err(Error::shape("transpose", format!("dims {d0}, {d1} of shape {:?}", x.shape())));
    }
    perm.swap(d0, d1);
    permute(x, &perm)
}

/// (outer, extent, inner) of `dim` in `shape`.
fn split_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    (numel(&shape[..dim]), shape[dim], numel(&shape[dim + 1..]))
}

/// Elements `start..end` along `dim`.
///
/// # Errors
/// [`Error::Shape`] for a bad dim or range; GPU errors.
pub fn slice(x: &Tensor, dim: usize, start: usize, end: usize) -> Result<Tensor> {
    if dim >= x.rank() || start > end || end > x.shape()[dim] {
        return Err(Error::shape("slice", format!("{start}..{end} of dim {dim} in {:?}", x.shape())));
    }
    let (outer, ext, inner) = split_dim(x.shape(), dim);
    let len = end - start;
    let mut out = x.shape().to_vec();
    out[dim] = len;
    let y = empty_like(&x.device(), &out)?;
    block(&[outer, len, inner], x, start * inner, &[ext * inner, inner, 1], &y, 0, &[len * inner, inner, 1], false)?;
    Ok(y)
}

/// Gradient of [`slice()`]: `dy` placed at `start` along `dim` in zeros of `full_shape`.
///
/// # Errors
/// [`Error::Shape`] if `dy` does not fit; GPU errors.
pub fn slice_bwd(dy: &Tensor, full_shape: &[usize], dim: usize, start: usize) -> Result<Tensor> {
    let len = dy.shape().get(dim).copied().unwrap_or(0);
    let mut expect = full_shape.to_vec();
    if dim < expect.len() {
        expect[dim] = len;
    }
    if dim >= full_shape.len() || dy.shape() != expect.as_slice() || start + len > full_shape[dim] {
        return Err(Error::shape(
            "slice_bwd",
            format!("dy {:?} at {start} of dim {dim} in {full_shape:?}", dy.shape()),
        ));
    }
    let (outer, ext, inner) = split_dim(full_shape, dim);
    let dx = Tensor::zeros(&dy.device(), full_shape)?;
    block(&[outer, len, inner], dy, 0, &[len * inner, inner, 1], &dx, start * inner, &[ext * inner, inner, 1], false)?;
    Ok(dx)
}

/// Concatenation along `dim`.
///
/// # Errors
/// [`Error::Shape`] when shapes differ outside `dim`; device mismatch; GPU errors.
pub fn concat(xs: &[&Tensor], dim: usize) -> Result<Tensor> {
    let first = xs.first().ok_or_else(|| Error::shape("concat", "no tensors"))?;
    let dev = same_device("concat", xs)?;
    let mut out = first.shape().to_vec();
    if dim >= out.len() {
        return Err(Error::shape("concat", format!("dim {dim} of shape {out:?}")));
    }
    out[dim] = 0;
    for x in xs {
        let ok = x.rank() == first.rank()
            && x.shape().iter().zip(first.shape()).enumerate().all(|(i, (a, b))| i == dim || a == b);
        if !ok {
            return Err(Error::shape("concat", format!("{:?} vs {:?} along dim {dim}", x.shape(), first.shape())));
        }
        out[dim] += x.shape()[dim];
    }
    let y = empty_like(&dev, &out)?;
    let (outer, total, inner) = split_dim(&out, dim);
    let mut at = 0;
    for x in xs {
        let len = x.shape()[dim];
        block(&[outer, len, inner], x, 0, &[len * inner, inner, 1], &y, at * inner, &[total * inner, inner, 1], false)?;
        at += len;
    }
    Ok(y)
}

fn gather_cpu<T: Elem>(x: &Tensor, idx: &[u32], n: usize, out: &[usize]) -> Result<Tensor> {
    let xs = T::view(x);
    let mut y = vec![T::zero(); idx.len() * n];
    cpu::gather_rows(&xs, idx, n, &mut y);
    Ok(T::tensor(y, out))
}

fn check_idx(op: &'static str, idx: &[u32], rows: usize) -> Result<()> {
    match idx.iter().find(|&&i| i as usize >= rows) {
        Some(bad) => Err(Error::invalid(op, format!("index {bad} out of range for {rows} rows"))),
        None => Ok(()),
    }
}

/// Rows of `x` (over its first dim) picked by `idx`: `y[i] = x[idx[i]]`.
///
/// # Shapes
/// `x: [rows, ...]` → `[idx.len(), ...]`.
///
/// # Errors
/// [`Error::InvalidArgument`] for an index ≥ rows; GPU errors.
pub fn gather_rows(x: &Tensor, idx: &[u32]) -> Result<Tensor> {
    let rows = *x.shape().first().ok_or_else(|| Error::shape("gather_rows", "scalar input"))?;
    check_idx("gather_rows", idx, rows)?;
    let n = x.numel() / rows.max(1);
    let mut out = x.shape().to_vec();
    out[0] = idx.len();
    match x.device() {
        Device::Gpu(g) => {
            let y = Tensor::uninit(&g, &out)?;
            if !idx.is_empty() {
                let ib = g.upload(bytemuck::cast_slice(idx))?;
                k::gather_rows(&g, idx.len(), n, span(x), &ib, span(&y))?;
            }
            Ok(y)
        }
        d => by_precision!(d, gather_cpu(x, idx, n, &out)),
    }
}

fn gather_bwd_cpu<T: Elem>(dy: &Tensor, idx: &[u32], n: usize, out: &[usize]) -> Result<Tensor> {
    let dys = T::view(dy);
    let mut dx = vec![T::zero(); numel(out)];
    cpu::gather_rows_bwd(&dys, idx, n, &mut dx);
    Ok(T::tensor(dx, out))
}

/// Gradient of [`gather_rows`]: `dx[r] = Σ_{idx[i] = r} dy[i]` for `x` of `rows` rows
/// (deterministic: summed in index order).
///
/// # Errors
/// [`Error::Shape`] / [`Error::InvalidArgument`] for inconsistent sizes or indices; GPU errors.
pub fn gather_rows_bwd(dy: &Tensor, idx: &[u32], rows: usize) -> Result<Tensor> {
    if dy.shape().first() != Some(&idx.len()) {
        return Err(Error::shape("gather_rows_bwd", format!("dy {:?} for {} indices", dy.shape(), idx.len())));
    }
    check_idx("gather_rows_bwd", idx, rows)?;
    let n = dy.numel() / idx.len().max(1);
    let mut out = dy.shape().to_vec();
    out[0] = rows;
    match dy.device() {
        Device::Gpu(g) => {
            // CSR inverse map: starts[rows + 1], then the gathered positions grouped by row.
            let mut starts = vec![0u32; rows + 1];
            idx.iter().for_each(|&r| starts[r as usize + 1] += 1);
            (0..rows).for_each(|r| starts[r + 1] += starts[r]);
            let mut fill = starts.clone();
            let mut list = vec![0u32; idx.len()];
            for (i, &r) in idx.iter().enumerate() {
                list[fill[r as usize] as usize] = i as u32;
                fill[r as usize] += 1;
            }
            starts.extend(list);
            let inv = g.upload(bytemuck::cast_slice(&starts))?;
            let dx = Tensor::uninit(&g, &out)?;
            let most = (0..rows).map(|r| (starts[r + 1] - starts[r]) as usize).max().unwrap_or(0);
            k::gather_rows_bwd(&g, rows, n, most, span(dy), &inv, span(&dx))?;
            Ok(dx)
        }
        d => by_precision!(d, gather_bwd_cpu(dy, idx, n, &out)),
    }
}

fn check_into(op: &'static str, dst: &Tensor, src: &Tensor) -> Result<()> {
    if dst.numel() != src.numel() {
        return Err(Error::shape(op, format!("{:?} into {:?}", src.shape(), dst.shape())));
    }
    if dst.shares_storage(src) {
        return Err(Error::invalid(op, "source and destination share storage"));
    }
    Ok(())
}

/// Overwrites `dst` (often a view) with `src`'s elements, in order (shapes may differ if the
/// element counts agree). Ordered with recorded work on the GPU.
///
/// # Errors
/// [`Error::Shape`] on a count mismatch; [`Error::InvalidArgument`] if they share storage.
pub fn copy_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    check_into("copy_into", dst, src)?;
    let n = src.numel();
    block(&[n], src, 0, &[1], dst, 0, &[1], false)
}

/// `dst += src` elementwise, in place (gradient accumulation into views of a flat buffer).
///
/// # Errors
/// As [`copy_into`].
pub fn add_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    check_into("add_into", dst, src)?;
    let n = src.numel();
    block(&[n], src, 0, &[1], dst, 0, &[1], true)
}
