//! Unary and broadcasting binary elementwise ops and their gradients
//! (CPU twins of `shaders/elementwise/`).

use super::Real;
use crate::error::{Error, Result};

/// A unary elementwise function `y = f(x)`. Parameters are f32 so the GPU sees the same values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    /// `-x`
    Neg,
    /// `eˣ`
    Exp,
    /// `ln x`
    Log,
    /// `√x`
    Sqrt,
    /// `x²`
    Square,
    /// `1/x`
    Recip,
    /// `tanh x`
    Tanh,
    /// `1/(1+e⁻ˣ)`
    Sigmoid,
    /// `ln(1+eˣ)` (linear above 20, as PyTorch)
    Softplus,
    /// `max(x, 0)`
    Relu,
    /// `x·Φ(x)`, PyTorch's default (erf) GELU
    Gelu,
    /// `½x(1+tanh(√(2/π)(x+0.044715x³)))`, GELU's tanh approximation
    GeluTanh,
    /// `x·sigmoid(x)`
    Silu,
    /// `x·tanh(softplus(x))`
    Mish,
    /// `|x|`
    Abs,
    /// `c·x`
    Scale(f32),
    /// `x + c`
    AddScalar(f32),
    /// `min(max(x, lo), hi)`; gradient 1 on `[lo, hi]` (as PyTorch)
    Clamp(f32, f32),
}

impl Unary {
    /// The op selector the GPU kernel is specialised with (`OP` define).
    pub fn code(self) -> u32 {
        use Unary::*;
        match self {
            Neg => 0,
            Exp => 1,
            Log => 2,
            Sqrt => 3,
            Square => 4,
            Recip => 5,
            Tanh => 6,
            Sigmoid => 7,
            Softplus => 8,
            Relu => 9,
            Gelu => 10,
            GeluTanh => 11,
            Silu => 12,
            Mish => 13,
            Abs => 14,
            Scale(_) => 15,
            AddScalar(_) => 16,
            Clamp(..) => 17,
        }
    }

    /// Number of distinct op codes.
    pub const COUNT: u32 = 18;

    /// The two scalar parameters passed to the kernel.
    pub fn params(self) -> [f32; 2] {
        match self {
            Unary::Scale(c) | Unary::AddScalar(c) => [c, 0.0],
            Unary::Clamp(lo, hi) => [lo, hi],
            _ => [0.0, 0.0],
        }
    }

    /// `f(x)`.
    #[inline(always)]
    pub fn f<T: Real>(self, x: T) -> T {
        use Unary::*;
        let one = T::one();
        let half = T::of(0.5);
        match self {
            Neg => -x,
            Exp => x.vexp(),
            Log => x.ln(),
            Sqrt => x.sqrt(),
            Square => x * x,
            Recip => one / x,
            Tanh => x.vtanh(),
            Sigmoid => sigmoid(x),
            Softplus => softplus(x),
            Relu => x.max(T::zero()),
            Gelu => half * x * (one + (x * T::of(std::f64::consts::FRAC_1_SQRT_2)).erf()),
            GeluTanh => half * x * (one + gelu_tanh_inner(x).vtanh()),
            Silu => x * sigmoid(x),
            Mish => x * softplus(x).vtanh(),
            Abs => x.abs(),
            Scale(c) => x * T::of(f64::from(c)),
            AddScalar(c) => x + T::of(f64::from(c)),
            Clamp(lo, hi) => x.max(T::of(f64::from(lo))).min(T::of(f64::from(hi))),
        }
    }

    /// `f'(x)`.
    #[inline(always)]
    pub fn df<T: Real>(self, x: T) -> T {
        use Unary::*;
        let one = T::one();
        let half = T::of(0.5);
        match self {
            Neg => -one,
            Exp => x.vexp(),
            Log => one / x,
            Sqrt => half / x.sqrt(),
            Square => x + x,
            Recip => -one / (x * x),
            Tanh => {
                let t = x.vtanh();
                one - t * t
            }
            Sigmoid => {
                let s = sigmoid(x);
                s * (one - s)
            }
            Softplus => {
                if x > T::of(20.0) {
                    one
                } else {
                    sigmoid(x)
                }
            }
            Relu => {
                if x > T::zero() {
                    one
                } else {
                    T::zero()
                }
            }
            Gelu => {
                let cdf = half * (one + (x * T::of(std::f64::consts::FRAC_1_SQRT_2)).erf());
                let pdf = (-half * x * x).vexp() * T::of(1.0 / (2.0 * std::f64::consts::PI).sqrt());
                cdf + x * pdf
            }
            GeluTanh => {
                let t = gelu_tanh_inner(x).vtanh();
                let inner_d = T::of((2.0 / std::f64::consts::PI).sqrt()) * (one + T::of(3.0 * 0.044715) * x * x);
                half * (one + t) + half * x * (one - t * t) * inner_d
            }
            Silu => {
                let s = sigmoid(x);
                s + x * s * (one - s)
            }
            Mish => {
                let sp = softplus(x);
                let t = sp.vtanh();
                let dsp = if x > T::of(20.0) { one } else { sigmoid(x) };
                t + x * (one - t * t) * dsp
            }
            Abs => {
                if x > T::zero() {
                    one
                } else if x < T::zero() {
                    -one
                } else {
                    T::zero()
                }
            }
            Scale(c) => T::of(f64::from(c)),
            AddScalar(_) => one,
            Clamp(lo, hi) => {
                if x >= T::of(f64::from(lo)) && x <= T::of(f64::from(hi)) {
                    one
                } else {
                    T::zero()
                }
            }
        }
    }

    /// Every op (with representative parameters), for tests and tools.
    pub fn all() -> Vec<Unary> {
        use Unary::*;
        vec![
            Neg,
            Exp,
            Log,
            Sqrt,
            Square,
            Recip,
            Tanh,
            Sigmoid,
            Softplus,
            Relu,
            Gelu,
            GeluTanh,
            Silu,
            Mish,
            Abs,
            Scale(-1.75),
            AddScalar(0.625),
            Clamp(-0.5, 0.75),
        ]
    }
}

#[inline(always)]
fn sigmoid<T: Real>(x: T) -> T {
    // exp(−|x|) never overflows; select the branch arithmetically so loops vectorise.
    let one = T::one();
    let e = (-x.abs()).vexp();
    let pos = one / (one + e);
    if x >= T::zero() {
        pos
    } else {
        one - pos
    }
}

#[inline(always)]
fn softplus<T: Real>(x: T) -> T {
    x.vsoftplus()
}

#[inline(always)]
fn gelu_tanh_inner<T: Real>(x: T) -> T {
    T::of((2.0 / std::f64::consts::PI).sqrt()) * (x + T::of(0.044715) * x * x * x)
}

/// Evaluates `$body` with `$o` bound to `$op` as a per-variant constant, so that the inlined
/// `f`/`df` fold to straight-line code inside the body's loop.
macro_rules! specialise_unary {
    ($op:expr, $o:ident => $body:expr) => {
        match $op {
            Unary::Neg => {
                let $o = Unary::Neg;
                $body
            }
            Unary::Exp => {
                let $o = Unary::Exp;
                $body
            }
            Unary::Log => {
                let $o = Unary::Log;
                $body
            }
            Unary::Sqrt => {
                let $o = Unary::Sqrt;
                $body
            }
            Unary::Square => {
                let $o = Unary::Square;
                $body
            }
            Unary::Recip => {
                let $o = Unary::Recip;
                $body
            }
            Unary::Tanh => {
                let $o = Unary::Tanh;
                $body
            }
            Unary::Sigmoid => {
                let $o = Unary::Sigmoid;
                $body
            }
            Unary::Softplus => {
                let $o = Unary::Softplus;
                $body
            }
            Unary::Relu => {
                let $o = Unary::Relu;
                $body
            }
            Unary::Gelu => {
                let $o = Unary::Gelu;
                $body
            }
            Unary::GeluTanh => {
                let $o = Unary::GeluTanh;
                $body
            }
            Unary::Silu => {
                let $o = Unary::Silu;
                $body
            }
            Unary::Mish => {
                let $o = Unary::Mish;
                $body
            }
            Unary::Abs => {
                let $o = Unary::Abs;
                $body
            }
            Unary::Scale(c) => {
                let $o = Unary::Scale(c);
                $body
            }
            Unary::AddScalar(c) => {
                let $o = Unary::AddScalar(c);
                $body
            }
            Unary::Clamp(lo, hi) => {
                let $o = Unary::Clamp(lo, hi);
                $body
            }
        }
    };
}

/// `y = f(x)` elementwise.
pub fn unary<T: Real>(op: Unary, x: &[T], y: &mut [T]) {
    super::parallel(y, 1, |start, ys| {
        let xs = &x[start..start + ys.len()];
        specialise_unary!(op, o => ys.iter_mut().zip(xs).for_each(|(y, &x)| *y = o.f(x)))
    });
}

/// `dx = dy · f'(x)` elementwise.
pub fn unary_bwd<T: Real>(op: Unary, x: &[T], dy: &[T], dx: &mut [T]) {
    super::parallel(dx, 1, |start, out| {
        let (xs, gs) = (&x[start..start + out.len()], &dy[start..start + out.len()]);
        specialise_unary!(op, o => {
            for ((d, &x), &g) in out.iter_mut().zip(xs).zip(gs) {
                *d = g * o.df(x);
            }
        })
    });
}

/// A broadcasting binary function `y = a ∘ b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a · b`
    Mul,
    /// `a / b`
    Div,
}

impl Binary {
    /// The op selector of the GPU kernel.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Every op.
    pub const ALL: [Binary; 4] = [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div];

    /// `a ∘ b`.
    pub fn f<T: Real>(self, a: T, b: T) -> T {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
        }
    }

    /// `(∂/∂a, ∂/∂b)` at `(a, b)`.
    pub fn df<T: Real>(self, a: T, b: T) -> (T, T) {
        let one = T::one();
        match self {
            Binary::Add => (one, one),
            Binary::Sub => (one, -one),
            Binary::Mul => (b, a),
            Binary::Div => (one / b, -a / (b * b)),
        }
    }
}

/// Which operand of a binary op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The left operand `a`.
    A,
    /// The right operand `b`.
    B,
}

/// Maximum rank after collapsing dimensions.
pub const MAX_RANK: usize = 4;

/// NumPy-style broadcast of two contiguous operands, collapsed to at most [`MAX_RANK`] dims.
///
/// The output is contiguous over `dims`; `stride_a[d]` / `stride_b[d]` are the operands'
/// element strides in that frame (0 where the operand is broadcast).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broadcast {
    /// Output dims (leading dims padded with 1).
    pub dims: [usize; MAX_RANK],
    /// Strides of `a` in the output frame.
    pub stride_a: [usize; MAX_RANK],
    /// Strides of `b` in the output frame.
    pub stride_b: [usize; MAX_RANK],
}

fn contiguous_strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

impl Broadcast {
    /// Broadcasts shapes `a` and `b`; returns the frame and the output shape.
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes are incompatible or need more than [`MAX_RANK`] dims.
    pub fn new(a: &[usize], b: &[usize]) -> Result<(Broadcast, Vec<usize>)> {
        let rank = a.len().max(b.len());
        let pad =
            |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect() };
        let (pa, pb) = (pad(a), pad(b));
        let mut out = Vec::with_capacity(rank);
        for (&x, &y) in pa.iter().zip(&pb) {
            out.push(match (x, y) {
                _ if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return Err(Error::shape("broadcast", format!("shapes {a:?} and {b:?} are not broadcastable"))),
            });
        }
        let (ca, cb) = (contiguous_strides(&pa), contiguous_strides(&pb));
        // (dim, stride_a, stride_b) with broadcast strides zeroed; size-1 dims dropped.
        let mut d: Vec<(usize, usize, usize)> = (0..rank)
            .filter(|&i| out[i] != 1)
            .map(|i| (out[i], if pa[i] == 1 { 0 } else { ca[i] }, if pb[i] == 1 { 0 } else { cb[i] }))
            .collect();
        // Merge neighbours whose strides continue each other for both operands.
        let mut i = d.len();
        while i > 1 {
            i -= 1;
            let (n1, a1, b1) = d[i];
            let (n0, a0, b0) = d[i - 1];
            if a0 == a1 * n1 && b0 == b1 * n1 {
                d[i - 1] = (n0 * n1, a1, b1);
                d.remove(i);
            }
        }
        if d.len() > MAX_RANK {
            return Err(Error::shape(
                "broadcast",
                format!("shapes {a:?} and {b:?} need {} dims after collapsing (max {MAX_RANK})", d.len()),
            ));
        }
        let mut bc = Broadcast { dims: [1; MAX_RANK], stride_a: [0; MAX_RANK], stride_b: [0; MAX_RANK] };
        let off = MAX_RANK - d.len();
        for (j, &(n, sa, sb)) in d.iter().enumerate() {
            bc.dims[off + j] = n;
            bc.stride_a[off + j] = sa;
            bc.stride_b[off + j] = sb;
        }
        Ok((bc, out))
    }

    /// Number of output elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether the output is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Operand offsets of output element `i`.
    pub fn offsets(&self, i: usize) -> (usize, usize) {
        let (mut rem, mut oa, mut ob) = (i, 0, 0);
        for d in (0..MAX_RANK).rev() {
            let idx = rem % self.dims[d];
            rem /= self.dims[d];
            oa += idx * self.stride_a[d];
            ob += idx * self.stride_b[d];
        }
        (oa, ob)
    }

    /// Strides of one operand in the output frame.
    pub fn strides(&self, side: Side) -> [usize; MAX_RANK] {
        match side {
            Side::A => self.stride_a,
            Side::B => self.stride_b,
        }
    }
}

/// One output row of a binary op, specialised for contiguous and broadcast operands.
#[inline(always)]
fn binary_row<T: Real>(row: &mut [T], a: &[T], sa: usize, b: &[T], sb: usize, f: impl Fn(T, T) -> T) {
    let n = row.len();
    match (sa, sb) {
        (1, 1) => row.iter_mut().zip(&a[..n]).zip(&b[..n]).for_each(|((y, &u), &v)| *y = f(u, v)),
        (1, 0) => row.iter_mut().zip(&a[..n]).for_each(|(y, &u)| *y = f(u, b[0])),
        (0, 1) => row.iter_mut().zip(&b[..n]).for_each(|(y, &v)| *y = f(a[0], v)),
        _ => row.iter_mut().enumerate().for_each(|(i, y)| *y = f(a[i * sa], b[i * sb])),
    }
}

/// `y = a ∘ b` with broadcasting (see [`Broadcast`]), row by row along the innermost dim.
pub fn binary<T: Real>(op: Binary, bc: &Broadcast, a: &[T], b: &[T], y: &mut [T]) {
    let inner = bc.dims[MAX_RANK - 1];
    let (sa, sb) = (bc.stride_a[MAX_RANK - 1], bc.stride_b[MAX_RANK - 1]);
    let y = &mut y[..bc.len()];
    super::parallel(y, inner, |start, out| {
        for (r, row) in out.chunks_mut(inner.max(1)).enumerate() {
            let (oa, ob) = bc.offsets(start + r * inner);
            let (a, b) = (&a[oa..], &b[ob..]);
            match op {
                Binary::Add => binary_row(row, a, sa, b, sb, |u, v| u + v),
                Binary::Sub => binary_row(row, a, sa, b, sb, |u, v| u - v),
                Binary::Mul => binary_row(row, a, sa, b, sb, |u, v| u * v),
                Binary::Div => binary_row(row, a, sa, b, sb, |u, v| u / v),
            }
        }
    });
}

/// Gradient of one operand: `d[side] = Σ dy · ∂(a∘b)/∂side` summed over the dims where that
/// operand is broadcast. `d` has the operand's own (contiguous) size and is overwritten.
pub fn binary_bwd<T: Real>(op: Binary, bc: &Broadcast, side: Side, a: &[T], b: &[T], dy: &[T], d: &mut [T]) {
    d.iter_mut().for_each(|v| *v = T::zero());
    let strides = bc.strides(side);
    for (i, &g) in dy.iter().enumerate().take(bc.len()) {
        let (oa, ob) = bc.offsets(i);
        let (da, db) = op.df(a[oa], b[ob]);
        let mut pos = 0;
        let mut rem = i;
        for dd in (0..MAX_RANK).rev() {
            pos += (rem % bc.dims[dd]) * strides[dd];
            rem /= bc.dims[dd];
        }
        d[pos] += g * if side == Side::A { da } else { db };
    }
}
