//! Reference training steps for profiling and benchmarks: a plain transformer and the
//! Avoiding-size VDD student, each a full forward + backward + Adam step on random data.

use crate::autodiff::Tape;
use crate::cpu::elementwise::Unary;
use crate::device::Device;
use crate::error::Result;
use crate::kernels::rng::Dist;
use crate::moe::{StudentConfig, StudentNet};
use crate::nn::{Adam, AdamConfig, Gpt, GptConfig, ParamBuilder, ParamStore};
use crate::tensor::{ops, Tensor};

/// A model with an optimiser that can take training steps.
pub trait Step {
    /// One forward + backward + optimiser step; returns the loss tensor (not read back, so a GPU
    /// step stays one submission until the caller reads it).
    ///
    /// # Errors
    /// Op errors.
    fn step(&mut self) -> Result<Tensor>;
    /// The device.
    fn device(&self) -> Device;
    /// Number of parameters.
    fn params(&self) -> usize;
}

/// `mean(GPT(x)²)` over random `[batch, tokens, width]` inputs.
pub struct TransformerStep {
    store: ParamStore,
    gpt: Gpt,
    opt: Adam,
    x: Tensor,
    steps: u64,
}

impl TransformerStep {
    /// Builds the model and a fixed random input on `device`.
    ///
    /// # Errors
    /// Invalid sizes; device errors.
    pub fn new(
        device: &Device,
        batch: usize,
        tokens: usize,
        width: usize,
        layers: usize,
        heads: usize,
    ) -> Result<Self> {
        let mut pb = ParamBuilder::new();
        let cfg = GptConfig {
            width,
            layers,
            heads,
            max_tokens: tokens,
            attn_dropout: 0.0,
            resid_dropout: 0.0,
            embd_dropout: 0.0,
        };
        let gpt = Gpt::new(&mut pb, "gpt", cfg)?;
        let store = pb.build(device, 0)?;
        let opt = Adam::new(&store, AdamConfig { lr: 1e-4, ..AdamConfig::default() })?;
        let x = ops::random(device, &[batch, tokens, width], Dist::Normal { mean: 0.0, std: 1.0 }, 1, 0)?;
        Ok(TransformerStep { store, gpt, opt, x, steps: 0 })
    }
}

impl Step for TransformerStep {
    fn step(&mut self) -> Result<Tensor> {
        let tape = Tape::new(&self.store, true, self.steps);
        let x = tape.constant(self.x.clone());
        let y = self.gpt.forward(&tape, &x)?;
        let loss = tape.mean_all(&tape.unary(&y, Unary::Square)?)?;
        let value = loss.value().clone();
        tape.backward(&loss)?;
        self.opt.step(&self.store, self.opt.cfg.lr)?;
        self.steps += 1;
        Ok(value)
    }
    fn device(&self) -> Device {
        self.store.device()
    }
    fn params(&self) -> usize {
        self.store.numel()
    }
}

/// The Avoiding-size student with the PyTorch anchor's proxy loss
/// `mean(μ²) + mean(L²) + mean(log g)` on random observations.
pub struct StudentStep {
    store: ParamStore,
    net: StudentNet,
    opt: Adam,
    obs: Tensor,
    steps: u64,
}

impl StudentStep {
    /// Builds the student (spec §2.8 sizes) and a fixed random batch on `device`.
    ///
    /// # Errors
    /// Device errors.
    pub fn new(device: &Device, batch: usize) -> Result<Self> {
        let cfg = StudentConfig::avoiding();
        let mut pb = ParamBuilder::new();
        let obs = ops::random(device, &[batch, cfg.window, cfg.obs_dim], Dist::Normal { mean: 0.0, std: 1.0 }, 2, 0)?;
        let net = StudentNet::new(&mut pb, cfg, device)?;
        let store = pb.build(device, 0)?;
        let opt = Adam::new(&store, AdamConfig { lr: 1e-4, ..AdamConfig::default() })?;
        Ok(StudentStep { store, net, opt, obs, steps: 0 })
    }
}

impl Step for StudentStep {
    fn step(&mut self) -> Result<Tensor> {
        let tape = Tape::new(&self.store, true, self.steps);
        let obs = tape.constant(self.obs.clone());
        let out = self.net.forward(&tape, &obs)?;
        let m = tape.mean_all(&tape.unary(&out.mean, Unary::Square)?)?;
        let l = tape.mean_all(&tape.unary(&out.chol, Unary::Square)?)?;
        let mut loss = tape.add(&m, &l)?;
        if let Some(g) = &out.log_gates {
            loss = tape.add(&loss, &tape.mean_all(g)?)?;
        }
        let value = loss.value().clone();
        tape.backward(&loss)?;
        self.opt.step(&self.store, self.opt.cfg.lr)?;
        self.steps += 1;
        Ok(value)
    }
    fn device(&self) -> Device {
        self.store.device()
    }
    fn params(&self) -> usize {
        self.store.numel()
    }
}

/// The Avoiding-size DiffusionGPT teacher (width 72, 4 layers, 4 heads, T = 5) with the
/// denoising loss on random windows: one BESO training step as `Teacher::train` takes it.
pub struct TeacherStep {
    store: ParamStore,
    net: crate::diffusion::Denoiser,
    opt: Adam,
    inputs: [Tensor; 4],
    steps: u64,
}

impl TeacherStep {
    /// Builds the teacher network and a fixed random batch of `batch` windows on `device`.
    ///
    /// # Errors
    /// Device errors.
    pub fn new(device: &Device, batch: usize) -> Result<Self> {
        let cfg = crate::diffusion::TeacherConfig::for_task("avoiding", crate::diffusion::TeacherKind::Beso);
        let t = cfg.net.window();
        let mut pb = ParamBuilder::new();
        let net = crate::diffusion::Denoiser::new(&mut pb, &cfg.net, 4, 2)?;
        let store = pb.build(device, 0)?;
        let opt = Adam::new(&store, AdamConfig { lr: 1e-4, ..AdamConfig::default() })?;
        let n = Dist::Normal { mean: 0.0, std: 1.0 };
        let inputs = [
            ops::random(device, &[batch, t, 4], n, 3, 0)?,
            ops::random(device, &[batch, t, 2], n, 3, 1)?,
            ops::random(device, &[batch, 1], n, 3, 2)?,
            ops::random(device, &[batch, t, 2], n, 3, 3)?,
        ];
        Ok(TeacherStep { store, net, opt, inputs, steps: 0 })
    }
}

impl Step for TeacherStep {
    fn step(&mut self) -> Result<Tensor> {
        let tape = Tape::new(&self.store, true, self.steps);
        let [s, x, f, y] = self.inputs.clone().map(|t| tape.constant(t));
        let out = self.net.forward(&tape, &s, &x, &f)?;
        let loss = tape.mse(&out, &y)?;
        let value = loss.value().clone();
        tape.backward(&loss)?;
        self.opt.step(&self.store, self.opt.cfg.lr)?;
        self.steps += 1;
        Ok(value)
    }
    fn device(&self) -> Device {
        self.store.device()
    }
    fn params(&self) -> usize {
        self.store.numel()
    }
}
