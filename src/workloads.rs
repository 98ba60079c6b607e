//! Reference workloads for profiling and benchmarks: training steps of a plain transformer,
//! the Avoiding-size VDD student and teacher (forward + backward + Adam on random data), and
//! one batched action of that student and teacher (what a closed-loop rollout calls).

use crate::autodiff::{Tape, Var};
use crate::cpu::elementwise::Unary;
use crate::device::Device;
use crate::error::Result;
use crate::kernels::rng::Dist;
use crate::moe::{StudentConfig, StudentNet};
use crate::nn::{Adam, AdamConfig, Gpt, GptConfig, ParamBuilder, ParamStore};
use crate::tensor::{ops, Tensor};

/// A model with an optimiser that can take training steps.
pub trait Step {
    /// One step (forward + backward + optimiser, or one batched action); returns the loss or
    /// the action tensor, not read back, so a GPU step stays one submission until the caller
    /// reads it.
    ///
    /// # Errors
    /// Op errors.
    fn step(&mut self) -> Result<Tensor>;
    /// The device.
    fn device(&self) -> Device;
    /// Number of parameters.
    fn params(&self) -> usize;
}

/// Parameters, their Adam state (learning rate 1e-4) and a step counter: what the training
/// workloads share.
struct Training {
    store: ParamStore,
    opt: Adam,
    steps: u64,
}

impl Training {
    fn new(store: ParamStore) -> Result<Self> {
        let opt = Adam::new(&store, AdamConfig { lr: 1e-4, ..AdamConfig::default() })?;
        Ok(Training { store, opt, steps: 0 })
    }

    /// One step: the loss `loss` records on a fresh tape, its backward, an Adam update; returns
    /// the loss tensor (not read back).
    fn step(&mut self, loss: impl FnOnce(&Tape) -> Result<Var>) -> Result<Tensor> {
        let tape = Tape::new(&self.store, true, self.steps);
        let loss = loss(&tape)?;
        let value = loss.value().clone();
        tape.backward(&loss)?;
        self.opt.step(&self.store, self.opt.cfg.lr)?;
        self.steps += 1;
        Ok(value)
    }
}

/// `mean(GPT(x)²)` over random `[batch, tokens, width]` inputs.
pub struct TransformerStep {
    train: Training,
    gpt: Gpt,
    x: Tensor,
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
        let train = Training::new(pb.build(device, 0)?)?;
        let x = ops::random(device, &[batch, tokens, width], Dist::Normal { mean: 0.0, std: 1.0 }, 1, 0)?;
        Ok(TransformerStep { train, gpt, x })
    }
}

impl Step for TransformerStep {
    fn step(&mut self) -> Result<Tensor> {
        let (gpt, x) = (&self.gpt, &self.x);
        self.train.step(|tape| {
            let x = tape.constant(x.clone());
            let y = gpt.forward(tape, &x)?;
            tape.mean_all(&tape.unary(&y, Unary::Square)?)
        })
    }
    fn device(&self) -> Device {
        self.train.store.device()
    }
    fn params(&self) -> usize {
        self.train.store.numel()
    }
}

/// The Avoiding-size student with the PyTorch anchor's proxy loss
/// `mean(μ²) + mean(L²) + mean(log g)` on random observations.
pub struct StudentStep {
    train: Training,
    net: StudentNet,
    obs: Tensor,
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
        let net = StudentNet::new(&mut pb, cfg)?;
        let train = Training::new(pb.build(device, 0)?)?;
        Ok(StudentStep { train, net, obs })
    }
}

impl Step for StudentStep {
    fn step(&mut self) -> Result<Tensor> {
        let (net, obs) = (&self.net, &self.obs);
        self.train.step(|tape| {
            let obs = tape.constant(obs.clone());
            let out = net.forward(tape, &obs)?;
            let m = tape.mean_all(&tape.unary(&out.mean, Unary::Square)?)?;
            let l = tape.mean_all(&tape.unary(&out.chol, Unary::Square)?)?;
            let loss = tape.add(&m, &l)?;
            match &out.log_gates {
                Some(g) => tape.add(&loss, &tape.mean_all(g)?),
                None => Ok(loss),
            }
        })
    }
    fn device(&self) -> Device {
        self.train.store.device()
    }
    fn params(&self) -> usize {
        self.train.store.numel()
    }
}

/// The Avoiding-size DiffusionGPT teacher (width 72, 4 layers, 4 heads, T = 5) with the
/// denoising loss on random windows: one BESO training step as `Teacher::train` takes it.
pub struct TeacherStep {
    train: Training,
    net: crate::diffusion::Denoiser,
    inputs: [Tensor; 4],
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
        let train = Training::new(pb.build(device, 0)?)?;
        let n = Dist::Normal { mean: 0.0, std: 1.0 };
        let inputs = [
            ops::random(device, &[batch, t, 4], n, 3, 0)?,
            ops::random(device, &[batch, t, 2], n, 3, 1)?,
            ops::random(device, &[batch, 1], n, 3, 2)?,
            ops::random(device, &[batch, t, 2], n, 3, 3)?,
        ];
        Ok(TeacherStep { train, net, inputs })
    }
}

impl Step for TeacherStep {
    fn step(&mut self) -> Result<Tensor> {
        let (net, inputs) = (&self.net, &self.inputs);
        self.train.step(|tape| {
            let [s, x, f, y] = inputs.clone().map(|t| tape.constant(t));
            tape.mse(&net.forward(tape, &s, &x, &f)?, &y)
        })
    }
    fn device(&self) -> Device {
        self.train.store.device()
    }
    fn params(&self) -> usize {
        self.train.store.numel()
    }
}

/// One batched action of the Avoiding-size student ([`crate::moe::Student::act_rows`], what
/// `Student::act` runs on the device) on fixed random windows of 5 observations.
pub struct StudentAct {
    student: crate::moe::Student,
    obs: Tensor,
}

impl StudentAct {
    /// A randomly initialised Avoiding-size student and `batch` random windows on `device`.
    ///
    /// # Errors
    /// Device errors.
    pub fn new(device: &Device, batch: usize) -> Result<Self> {
        let cfg = StudentConfig::avoiding();
        let obs = ops::random(device, &[batch, cfg.window, cfg.obs_dim], Dist::Normal { mean: 0.0, std: 1.0 }, 2, 0)?;
        let norm = crate::io::Normalization::identity(cfg.obs_dim, cfg.act_dim);
        let student = crate::moe::Student::new(cfg, norm, &crate::moe::MeanInit::Uniform(1.0), "avoiding", device, 0)?;
        Ok(StudentAct { student, obs })
    }
}

impl Step for StudentAct {
    fn step(&mut self) -> Result<Tensor> {
        self.student.act_rows(&self.obs)
    }
    fn device(&self) -> Device {
        self.obs.device()
    }
    fn params(&self) -> usize {
        self.student.store.numel()
    }
}

/// One batched action of the Avoiding-size BESO teacher: its default sampler (8
/// Euler-ancestral steps) on fixed random windows of 5 observations.
pub struct TeacherAct {
    teacher: crate::diffusion::Teacher,
    obs: Tensor,
    calls: u64,
}

impl TeacherAct {
    /// A randomly initialised Avoiding-size teacher and `batch` random windows on `device`.
    ///
    /// # Errors
    /// Device errors.
    pub fn new(device: &Device, batch: usize) -> Result<Self> {
        let cfg = crate::diffusion::TeacherConfig::for_task("avoiding", crate::diffusion::TeacherKind::Beso);
        let t = cfg.net.window();
        let teacher = crate::diffusion::Teacher::new(cfg, "avoiding", 4, 2, device, 0)?;
        let obs = ops::random(device, &[batch, t, 4], Dist::Normal { mean: 0.0, std: 1.0 }, 3, 0)?;
        Ok(TeacherAct { teacher, obs, calls: 0 })
    }
}

impl Step for TeacherAct {
    fn step(&mut self) -> Result<Tensor> {
        self.calls += 1;
        self.teacher.sample_tensor(&self.obs, None, None, self.calls)
    }
    fn device(&self) -> Device {
        self.obs.device()
    }
    fn params(&self) -> usize {
        self.teacher.num_params()
    }
}
