//! A chain of small dense ops run row by row over a scratch vector (CPU twin of
//! `shaders/mlp/chain_infer.wgsl`): the heads of a network for inference — linear layers with
//! fused activations, residual adds, a log-softmax — described by a [`ChainPlan`] whose weights
//! live in a model's flat parameter buffer.
//!
//! # Shapes
//! `x`: rows of `in_stride` elements, the op chain reading `in_width` of them from `in_off`;
//! `w`: the flat parameter buffer; `y: [rows, out_width]`.

use super::elementwise::Unary;
use super::Real;

/// A place in the scratch vector: first element and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// First element.
    pub at: usize,
    /// Elements.
    pub len: usize,
}

/// One op of a chain. Offsets `w`, `b` index the flat parameter buffer; slots the scratch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChainOp {
    /// `dst = act(src · W + b)` with `W: [src.len, dst.len]` row-major at `w`.
    Linear {
        /// Input.
        src: Slot,
        /// Output.
        dst: Slot,
        /// Weight offset.
        w: usize,
        /// Bias offset.
        b: Option<usize>,
        /// Activation (parameterless), if any.
        act: Option<Unary>,
    },
    /// `dst = act(src)`.
    Map {
        /// Input.
        src: Slot,
        /// Output (same length).
        dst: Slot,
        /// Activation.
        act: Unary,
    },
    /// `dst = a + b`.
    Add {
        /// First operand.
        a: Slot,
        /// Second operand.
        b: Slot,
        /// Output (same length).
        dst: Slot,
    },
    /// `v = v − log Σ exp v`, in place.
    LogSoftmax {
        /// The values.
        v: Slot,
    },
    /// Output columns `out..out + src.len` of the row take `src`.
    Store {
        /// Values.
        src: Slot,
        /// First output column.
        out: usize,
    },
}

/// A chain and the layout of its input and output rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChainPlan {
    /// Rows.
    pub rows: usize,
    /// Elements between consecutive input rows.
    pub in_stride: usize,
    /// First input element of a row.
    pub in_off: usize,
    /// Input elements per row (copied to scratch slot `0..in_width`).
    pub in_width: usize,
    /// Output elements per row.
    pub out_width: usize,
    /// Scratch elements the chain uses.
    pub scratch: usize,
    /// The ops, in order.
    pub ops: Vec<ChainOp>,
}

impl ChainPlan {
    /// An empty chain over `rows` rows whose input is `in_width` elements at `in_off` of rows
    /// `in_stride` apart; returns the plan and the input's slot.
    pub fn new(rows: usize, in_stride: usize, in_off: usize, in_width: usize) -> (Self, Slot) {
        let plan = ChainPlan { rows, in_stride, in_off, in_width, scratch: in_width, ..ChainPlan::default() };
        (plan, Slot { at: 0, len: in_width })
    }

    /// A fresh scratch slot of `len` elements, starting at a multiple of 4 (the GPU kernel
    /// reads aligned slots as vec4s).
    pub fn alloc(&mut self, len: usize) -> Slot {
        let s = Slot { at: self.scratch.div_ceil(4) * 4, len };
        self.scratch = s.at + len;
        s
    }

    /// Appends `act(src · W + b)` (`W: [src.len, n]` at `w`) and returns its slot.
    pub fn linear(&mut self, src: Slot, n: usize, w: usize, b: Option<usize>, act: Option<Unary>) -> Slot {
        let dst = self.alloc(n);
        self.ops.push(ChainOp::Linear { src, dst, w, b, act });
        dst
    }

    /// Appends `act(src)` and returns its slot.
    pub fn map(&mut self, src: Slot, act: Unary) -> Slot {
        let dst = self.alloc(src.len);
        self.ops.push(ChainOp::Map { src, dst, act });
        dst
    }

    /// Appends `a + b` and returns its slot.
    pub fn add(&mut self, a: Slot, b: Slot) -> Slot {
        let dst = self.alloc(a.len);
        self.ops.push(ChainOp::Add { a, b, dst });
        dst
    }

    /// Appends an in-place log-softmax of `v`.
    pub fn log_softmax(&mut self, v: Slot) {
        self.ops.push(ChainOp::LogSoftmax { v });
    }

    /// Appends `src` to the output row (after what is stored already).
    pub fn store(&mut self, src: Slot) {
        self.ops.push(ChainOp::Store { src, out: self.out_width });
        self.out_width += src.len;
    }
}

/// Runs the chain of `p` over every row of `x` into `y`.
pub fn chain_infer<T: Real>(p: &ChainPlan, x: &[T], w: &[T], y: &mut [T]) {
    let mut s = vec![T::zero(); p.scratch];
    for r in 0..p.rows {
        let row = &x[r * p.in_stride + p.in_off..][..p.in_width];
        s[..p.in_width].copy_from_slice(row);
        for op in &p.ops {
            match *op {
                ChainOp::Linear { src, dst, w: wo, b, act } => {
                    for j in 0..dst.len {
                        let mut acc = b.map_or(T::zero(), |b| w[b + j]);
                        for k in 0..src.len {
                            acc += s[src.at + k] * w[wo + k * dst.len + j];
                        }
                        s[dst.at + j] = act.map_or(acc, |a| a.f(acc));
                    }
                }
                ChainOp::Map { src, dst, act } => {
                    for j in 0..src.len {
                        s[dst.at + j] = act.f(s[src.at + j]);
                    }
                }
                ChainOp::Add { a, b, dst } => {
                    for j in 0..a.len {
                        s[dst.at + j] = s[a.at + j] + s[b.at + j];
                    }
                }
                ChainOp::LogSoftmax { v } => {
                    let vals = &mut s[v.at..v.at + v.len];
                    let m = vals.iter().copied().fold(T::neg_infinity(), T::max);
                    let lse = m + vals.iter().map(|&e| (e - m).exp()).sum::<T>().ln();
                    vals.iter_mut().for_each(|e| *e -= lse);
                }
                ChainOp::Store { src, out } => {
                    y[r * p.out_width + out..][..src.len].copy_from_slice(&s[src.at..src.at + src.len]);
                }
            }
        }
    }
}
