//! Named parameters in one flat buffer (so the optimiser updates all of them in one dispatch),
//! with a flat gradient buffer beside it and deterministic, seeded initialisation.

use crate::cpu::rng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{numel, ops as t, Tensor};

/// Handle of one parameter in its [`ParamStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub(crate) usize);

impl ParamId {
    /// Position in the store (parameters are numbered in creation order).
    pub fn index(self) -> usize {
        self.0
    }
}

/// How a parameter starts. Weights of a `Linear` are stored `[in, out]`; the initialisers follow
/// PyTorch's meaning for the `[out, in]` weight it would have.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All equal to a value (LayerNorm gains: 1).
    Constant(f32),
    /// Uniform in `[-bound, bound]`.
    Uniform(f32),
    /// Normal with mean 0 and this standard deviation (minGPT: 0.02).
    Normal(f32),
    /// A (semi-)orthogonal matrix scaled by the gain, as `torch.nn.init.orthogonal_` (2-D only).
    Orthogonal(f32),
}

/// One parameter's place in the flat buffer.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Hierarchical name, e.g. `gpt.block0.attn.q.w`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Element offset in the flat buffer.
    pub offset: usize,
    /// How it was initialised.
    pub init: Init,
}

/// Collects parameter declarations; [`ParamBuilder::build`] allocates and initialises them.
#[derive(Default)]
pub struct ParamBuilder {
    entries: Vec<Entry>,
    scope: Vec<String>,
    total: usize,
}

impl ParamBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a parameter named `name` inside the current scope.
    pub fn add(&mut self, name: &str, shape: &[usize], init: Init) -> ParamId {
        let full = self.scope.iter().map(String::as_str).chain([name]).collect::<Vec<_>>().join(".");
        self.entries.push(Entry { name: full, shape: shape.to_vec(), offset: self.total, init });
        self.total += numel(shape);
        ParamId(self.entries.len() - 1)
    }

    /// Runs `f` with `name` appended to the scope (nested module names).
    pub fn scope<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.scope.push(name.to_string());
        let r = f(self);
        self.scope.pop();
        r
    }

    /// Number of parameters declared so far (the next id).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Allocates the flat buffers on `device` and initialises every parameter from the Philox
    /// stream `(seed, parameter index)` — computed on the host, so every device starts from the
    /// same values.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an orthogonal init of a non-matrix; device errors.
    pub fn build(self, device: &Device, seed: u64) -> Result<ParamStore> {
        let mut values = vec![0f64; self.total];
        for (i, e) in self.entries.iter().enumerate() {
            init_values(e, seed, i as u64, &mut values[e.offset..e.offset + numel(&e.shape)])?;
        }
        let flat = Tensor::from_f64(device, &values, &[self.total])?;
        flat.mark_read_mostly();
        let grad = Tensor::zeros(device, &[self.total])?;
        Ok(ParamStore { device: device.clone(), flat, grad, entries: self.entries })
    }
}

fn init_values(e: &Entry, seed: u64, stream: u64, out: &mut [f64]) -> Result<()> {
    match e.init {
        Init::Zeros => out.fill(0.0),
        Init::Constant(c) => out.fill(f64::from(c)),
        Init::Uniform(b) => rng::uniform(seed, stream, -b, b, out),
        Init::Normal(s) => rng::normal(seed, stream, 0.0, s, out),
        Init::Orthogonal(gain) => {
            let [fan_in, fan_out] = e.shape[..] else {
                return Err(Error::invalid(
                    "orthogonal init",
                    format!("{} has shape {:?}; need a matrix", e.name, e.shape),
                ));
            };
            // PyTorch: flatten the [out, in] weight to rows × cols, QR of a normal matrix (of
            // its transpose when rows < cols), sign-fixed by diag(R), scaled by the gain.
            let (rows, cols) = (fan_out, fan_in);
            let (r, c) = if rows < cols { (cols, rows) } else { (rows, cols) };
            let mut z = vec![0f64; r * c];
            rng::normal(seed, stream, 0.0, 1.0, &mut z);
            let m = nalgebra::DMatrix::from_row_slice(r, c, &z);
            let qr = m.qr();
            let (mut q, rm) = (qr.q(), qr.r());
            for j in 0..c {
                let s = rm[(j, j)].signum();
                q.column_mut(j).scale_mut(if s == 0.0 { 1.0 } else { s });
            }
            // q is r×c; the [out, in] weight is q (rows ≥ cols) or qᵀ.
            for o in 0..rows {
                for i in 0..cols {
                    let v = if rows < cols { q[(i, o)] } else { q[(o, i)] };
                    out[i * fan_out + o] = f64::from(gain) * v;
                }
            }
        }
    }
    Ok(())
}

/// Every parameter of a model in one flat buffer, with its gradient buffer.
pub struct ParamStore {
    device: Device,
    flat: Tensor,
    grad: Tensor,
    entries: Vec<Entry>,
}

impl ParamStore {
    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.device.clone()
    }

    /// The parameters' declarations in creation order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total number of scalars.
    pub fn numel(&self) -> usize {
        self.flat.numel()
    }

    /// The flat parameter buffer.
    pub fn flat(&self) -> &Tensor {
        &self.flat
    }

    /// The flat gradient buffer (filled by [`crate::autodiff::Tape::backward`]).
    pub fn flat_grad(&self) -> &Tensor {
        &self.grad
    }

    fn entry(&self, id: ParamId) -> &Entry {
        &self.entries[id.0]
    }

    /// A parameter (a view of the flat buffer).
    pub fn tensor(&self, id: ParamId) -> Tensor {
        let e = self.entry(id);
        self.flat.view_flat(e.offset, &e.shape).expect("entries lie inside the flat buffer")
    }

    /// A parameter's gradient (a view of the flat gradient buffer).
    pub fn grad(&self, id: ParamId) -> Tensor {
        let e = self.entry(id);
        self.grad.view_flat(e.offset, &e.shape).expect("entries lie inside the flat buffer")
    }

    /// The id of the parameter named `name`.
    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.entries.iter().position(|e| e.name == name).map(ParamId)
    }

    /// Element range `[start, end)` of the flat buffer covered by parameters `ids`
    /// (which must be consecutive), for optimisers over a subset.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty or non-consecutive set.
    pub fn span(&self, ids: &[ParamId]) -> Result<(usize, usize)> {
        let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) else {
            return Err(Error::invalid("param span", "no parameters"));
        };
        if last.0 + 1 - first.0 != ids.len() {
            return Err(Error::invalid("param span", "parameters are not consecutive"));
        }
        let end = self.entry(*last);
        Ok((self.entry(*first).offset, end.offset + numel(&end.shape)))
    }

    /// Sets every gradient to zero.
    ///
    /// # Errors
    /// Device errors.
    pub fn zero_grads(&self) -> Result<()> {
        t::fill(&self.grad, 0.0)
    }

    /// `grad[id] += g`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `g` has the wrong size; device errors.
    pub fn accumulate_grad(&self, id: ParamId, g: &Tensor) -> Result<()> {
        t::add_into(&self.grad(id), g)
    }

    /// Every parameter's values, flat, as f64 (checkpoints, tests).
    ///
    /// # Errors
    /// Read-back errors.
    pub fn values(&self) -> Result<Vec<f64>> {
        self.flat.to_vec64()
    }

    /// Overwrites every parameter from flat f32 values.
    ///
    /// # Errors
    /// [`Error::Shape`] on a length mismatch; device errors.
    pub fn load(&self, values: &[f32]) -> Result<()> {
        self.flat.write(values)
    }
}
