//! The Gaussian-mixture student network (spec §3): minGPT backbone over observation tokens,
//! a head `Linear(E, 100)–SiLU–Linear(100, H)`, separate mean and Cholesky heads, and a gating
//! head on the *detached* feature.

use crate::autodiff::{Tape, Var};
use crate::cpu::elementwise::Unary;
use crate::cpu::gaussian::CholFill;
use crate::cpu::mlp_chain::{ChainPlan, Slot};
use crate::cpu::reduce::Softmax;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::mlp::supported as chain_supported;
use crate::nn::{Gpt, GptConfig, Linear, LinearInit, Mlp, ParamBuilder, ParamId, ParamStore, ResidualMlp};
use crate::tensor::{ops, Tensor};

/// Architecture of an expert head (mean or Cholesky).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadConfig {
    /// Hidden width.
    pub hidden: usize,
    /// Hidden layers (MLP) or layers of residual blocks (two per block).
    pub layers: usize,
    /// Residual MLP instead of a plain MLP.
    pub residual: bool,
    /// Activation.
    pub act: Activation,
    /// Gain of the orthogonal initialisation of the hidden layers (spec §2.9: 0.01 for every
    /// layer). The output layers keep gain 0.01 (Cholesky) or zero weights (mean) whatever
    /// this is, so the experts start state-independent at `init_std` either way.
    #[serde(default = "HeadConfig::spec_gain")]
    pub gain: f32,
}

impl HeadConfig {
    /// The reference's gain, 0.01.
    pub fn spec_gain() -> f32 {
        0.01
    }
}

/// Activations available in configs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// ReLU.
    Relu,
    /// Mish (the reference configs' intent).
    Mish,
    /// SiLU.
    Silu,
    /// GELU (erf).
    Gelu,
}

impl Activation {
    /// The elementwise op.
    pub fn unary(self) -> Unary {
        match self {
            Activation::Relu => Unary::Relu,
            Activation::Mish => Unary::Mish,
            Activation::Silu => Unary::Silu,
            Activation::Gelu => Unary::Gelu,
        }
    }
}

/// Sizes of the student.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StudentConfig {
    /// Observation features per token.
    pub obs_dim: usize,
    /// Action dimension d.
    pub act_dim: usize,
    /// Experts Z.
    pub experts: usize,
    /// Observation window T.
    pub window: usize,
    /// Transformer backbone (None: the heads read the raw observation).
    pub gpt: Option<GptConfig>,
    /// Feature width H after the head.
    pub feature: usize,
    /// Mean head.
    pub mean: HeadConfig,
    /// Cholesky head.
    pub cov: HeadConfig,
    /// Full covariance (else diagonal).
    pub full_cov: bool,
    /// Gating head (hidden width, layers); None: fixed uniform gating.
    pub gating: Option<(usize, usize)>,
    /// Expert std at initialisation.
    pub init_std: f32,
    /// Floor of the Cholesky diagonal.
    pub min_std: f32,
}

impl StudentConfig {
    /// The Avoiding-size student of the spec (§2.8; heads as the PyTorch anchor, ReLU).
    pub fn avoiding() -> Self {
        let head = HeadConfig { hidden: 512, layers: 1, residual: false, act: Activation::Relu, gain: 0.01 };
        StudentConfig {
            obs_dim: 4,
            act_dim: 2,
            experts: 8,
            window: 5,
            gpt: Some(GptConfig {
                width: 72,
                layers: 4,
                heads: 4,
                max_tokens: 5,
                attn_dropout: 0.0,
                resid_dropout: 0.0,
                embd_dropout: 0.0,
            }),
            feature: 512,
            mean: head,
            cov: head,
            full_cov: true,
            gating: Some((64, 2)),
            init_std: 1.0,
            min_std: 1e-4,
        }
    }

    /// Outputs of the Cholesky head per expert: d(d+1)/2 (full) or d (diagonal).
    pub fn chol_params(&self) -> usize {
        self.chol_fill().slots()
    }

    /// How the Cholesky head's outputs fill the factors: `L_ii = softplus(raw_ii + c) + min_std`
    /// with `c = softplus⁻¹(init_std − min_std)`, so a zero output gives `init_std`.
    pub fn chol_fill(&self) -> CholFill {
        CholFill {
            dim: self.act_dim,
            full: self.full_cov,
            shift: f64::from(self.init_std - self.min_std).exp_m1().ln() as f32,
            floor: self.min_std,
        }
    }
}

enum Head {
    Plain(Mlp),
    Residual(ResidualMlp),
}

impl Head {
    fn new(pb: &mut ParamBuilder, name: &str, fan_in: usize, c: &HeadConfig, fan_out: usize) -> Self {
        let init = LinearInit::Orthogonal(c.gain);
        if c.residual {
            Head::Residual(ResidualMlp::new(pb, name, fan_in, c.hidden, c.layers, fan_out, c.act.unary(), init))
        } else {
            Head::Plain(Mlp::new(pb, name, fan_in, c.hidden, c.layers, fan_out, c.act.unary(), init))
        }
    }

    fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        match self {
            Head::Plain(m) => m.forward(tape, x),
            Head::Residual(m) => m.forward(tape, x),
        }
    }

    fn chain(&self, store: &ParamStore, plan: &mut ChainPlan, src: Slot) -> Slot {
        match self {
            Head::Plain(m) => m.chain(store, plan, src),
            Head::Residual(m) => m.chain(store, plan, src),
        }
    }

    fn output(&self) -> &Linear {
        match self {
            Head::Plain(m) => m.layers.last().expect("an MLP has an output layer"),
            Head::Residual(m) => &m.output,
        }
    }
}

/// The network's outputs for a batch of observation windows.
pub struct StudentOut {
    /// Expert means `[B, T, Z, d]`.
    pub mean: Var,
    /// Cholesky factors `[B, T, Z, d, d]` (lower-triangular, positive diagonal).
    pub chol: Var,
    /// Log gating probabilities `[B, T, Z]` (None for uniform gating).
    pub log_gates: Option<Var>,
}

/// The student network.
pub struct StudentNet {
    /// Its configuration.
    pub cfg: StudentConfig,
    tok: Option<Linear>,
    gpt: Option<Gpt>,
    /// `Linear(E, 100)–SiLU–Linear(100, H)` after the backbone (none without one).
    head: Option<(Linear, Linear)>,
    mean: Head,
    cov: Head,
    gating: Option<ResidualMlp>,
}

impl StudentNet {
    /// Declares the network's parameters.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for inconsistent sizes.
    pub fn new(pb: &mut ParamBuilder, cfg: StudentConfig) -> Result<Self> {
        if cfg.act_dim == 0 || cfg.experts == 0 || cfg.window == 0 {
            return Err(Error::invalid("student", "action dimension, experts and window must be positive"));
        }
        let (z, d) = (cfg.experts, cfg.act_dim);
        let (tok, gpt, head, feature) = match &cfg.gpt {
            Some(g) => {
                let tok = Linear::new(pb, "tok", cfg.obs_dim, g.width, LinearInit::Normal(0.02));
                let gpt = Gpt::new(pb, "gpt", *g)?;
                let head1 = Linear::new(pb, "head1", g.width, 100, LinearInit::Torch);
                let head2 = Linear::new(pb, "head2", 100, cfg.feature, LinearInit::Torch);
                (Some(tok), Some(gpt), Some((head1, head2)), cfg.feature)
            }
            // Without a backbone the heads read the raw observation (spec §3.1).
            None => (None, None, None, cfg.obs_dim),
        };
        let mean = Head::new(pb, "mean", feature, &cfg.mean, z * d);
        let cov = Head::new(pb, "cov", feature, &cfg.cov, z * cfg.chol_params());
        let gating =
            cfg.gating.map(|(h, l)| ResidualMlp::new(pb, "gating", feature, h, l, z, Unary::Mish, LinearInit::Torch));
        Ok(StudentNet { cfg, tok, gpt, head, mean, cov, gating })
    }

    /// Weight and bias of the mean head's output layer (initialised by the student).
    pub fn mean_output(&self) -> (ParamId, ParamId) {
        let l = self.mean.output();
        (l.w, l.b.expect("the mean head's output layer has a bias"))
    }

    /// Weight of the Cholesky head's output layer (rescaled by the student to gain 0.01).
    pub fn cov_output(&self) -> ParamId {
        self.cov.output().w
    }

    /// The gating network's parameters (declared last, so they are one contiguous span), if
    /// the gating is learned.
    pub fn gating_params(&self, store: &crate::nn::ParamStore) -> Option<Vec<ParamId>> {
        self.gating.as_ref()?;
        Some((0..store.len()).map(ParamId).filter(|&id| store.entries()[id.0].name.starts_with("gating.")).collect())
    }

    /// The feature `[B, T, H]` of observation windows `[B, T, obs_dim]` (the observation
    /// itself without a backbone).
    ///
    /// # Errors
    /// Shape errors.
    pub fn features(&self, tape: &Tape, obs: &Var) -> Result<Var> {
        self.features_at(tape, obs, false)
    }

    /// [`StudentNet::features`] at every position, or (`last_only`) at the last one,
    /// `[B, 1, H]`, with the backbone's head run on that position only.
    fn features_at(&self, tape: &Tape, obs: &Var, last_only: bool) -> Result<Var> {
        let t = self.check_obs(obs)?;
        let last = |x: Var| if last_only && t > 1 { tape.slice(&x, 1, t - 1, t) } else { Ok(x) };
        match &self.head {
            Some((h1, h2)) => {
                let x = last(self.backbone(tape, obs)?)?;
                let h = h1.forward_act(tape, &x, Unary::Silu)?;
                h2.forward(tape, &h)
            }
            None => last(obs.clone()),
        }
    }

    /// The window length of observations `[B, T, obs_dim]`, or a shape error.
    fn check_obs(&self, obs: &Var) -> Result<usize> {
        let s = obs.shape();
        if s.len() != 3 || s[2] != self.cfg.obs_dim || s[1] > self.cfg.window {
            return Err(Error::shape(
                "student",
                format!("observations {s:?}; expected [batch, ≤{}, {}]", self.cfg.window, self.cfg.obs_dim),
            ));
        }
        Ok(s[1])
    }

    /// The backbone's output `[B, T, E]` (the observations themselves without a backbone).
    fn backbone(&self, tape: &Tape, obs: &Var) -> Result<Var> {
        match (&self.tok, &self.gpt) {
            (Some(tok), Some(gpt)) => gpt.forward_tokens(tape, tok, obs),
            _ => Ok(obs.clone()),
        }
    }

    /// [`StudentNet::act_rows`]'s heads as one row chain over the backbone's output at the
    /// last of `t` positions: means, then log gates.
    fn act_chain(&self, store: &ParamStore, rows: usize, t: usize) -> ChainPlan {
        let width = self.gpt.as_ref().map_or(self.cfg.obs_dim, |g| g.cfg.width);
        let (mut plan, x) = ChainPlan::new(rows, t * width, (t - 1) * width, width);
        let f = match &self.head {
            Some((h1, h2)) => {
                let h = h1.chain(store, &mut plan, x, Some(Unary::Silu));
                h2.chain(store, &mut plan, h, None)
            }
            None => x,
        };
        let mean = self.mean.chain(store, &mut plan, f);
        plan.store(mean);
        if let Some(g) = &self.gating {
            let lg = g.chain(store, &mut plan, f);
            plan.log_softmax(lg);
            plan.store(lg);
        }
        plan
    }

    /// What acting reads back, one row per observation window `[B, T, obs_dim]`: the experts'
    /// means at the last position (`Z·d` values, normalised units) followed, with a learned
    /// gating, by the `Z` log gates. On the GPU with at most
    /// [`crate::kernels::mlp::MAX_ROWS`] windows and nothing to differentiate, the heads run
    /// as one chain dispatch ([`ops::chain_infer`]) after the fused backbone; otherwise as
    /// [`StudentNet::forward_act`] and a concatenation.
    ///
    /// # Shapes
    /// `[B, T, obs_dim]` → `[B, Z·d]` or `[B, Z·d + Z]`.
    ///
    /// # Errors
    /// Shape and device errors.
    pub fn act_rows(&self, tape: &Tape, obs: &Var) -> Result<Tensor> {
        let t = self.check_obs(obs)?;
        let n = obs.shape()[0];
        if let Device::Gpu(gpu) = tape.device() {
            let frozen = !obs.requires_grad() && !tape.param(self.mean.output().w).requires_grad();
            if t > 0 && frozen {
                let plan = self.act_chain(tape.store(), n, t);
                if chain_supported(&gpu, &plan, tape.store().flat().offset())
                    && gpu.mirror_fits(tape.store().flat().buffer())
                {
                    let x = self.backbone(tape, obs)?;
                    return ops::chain_infer(x.value(), tape.store().flat(), &plan);
                }
            }
        }
        let (z, d) = (self.cfg.experts, self.cfg.act_dim);
        let (mean, log_g) = self.forward_act(tape, obs)?;
        let mean = mean.value().reshape(&[n, z * d])?;
        match log_g {
            Some(g) => ops::concat(&[&mean, g.value()], 1),
            None => Ok(mean),
        }
    }

    /// What acting needs: means `[B, Z, d]` and log gates `[B, Z]` (None for a fixed uniform
    /// gating) at the last position of observation windows `[B, T, obs_dim]`; the heads run on
    /// that position only and the Cholesky head not at all.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward_act(&self, tape: &Tape, obs: &Var) -> Result<(Var, Option<Var>)> {
        let (z, d) = (self.cfg.experts, self.cfg.act_dim);
        let f = self.features_at(tape, obs, true)?;
        let b = obs.shape()[0];
        let mean = tape.reshape(&self.mean.forward(tape, &f)?, &[b, z, d])?;
        let log_gates = match &self.gating {
            Some(g) => Some(tape.reshape(&tape.softmax(&g.forward(tape, &f)?, Softmax::LogSoftmax)?, &[b, z])?),
            None => None,
        };
        Ok((mean, log_gates))
    }

    /// Means, Cholesky factors and log gates for observation windows `[B, T, obs_dim]`.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward(&self, tape: &Tape, obs: &Var) -> Result<StudentOut> {
        let (b, t) = (obs.shape()[0], obs.shape()[1]);
        let (z, d) = (self.cfg.experts, self.cfg.act_dim);
        let f = self.features(tape, obs)?;
        let mean = tape.reshape(&self.mean.forward(tape, &f)?, &[b, t, z, d])?;
        let raw = self.cov.forward(tape, &f)?;
        let raw = tape.reshape(&raw, &[b * t * z, self.cfg.chol_params()])?;
        let chol = tape.reshape(&tape.chol_fill(&raw, self.cfg.chol_fill())?, &[b, t, z, d, d])?;
        let log_gates = match &self.gating {
            Some(g) => Some(tape.softmax(&g.forward(tape, &f.detach())?, Softmax::LogSoftmax)?),
            None => None,
        };
        Ok(StudentOut { mean, chol, log_gates })
    }
}
