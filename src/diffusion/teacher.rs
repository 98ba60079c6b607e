//! Diffusion teachers: a residual-MLP denoiser on `[state, noisy action, noise feature]`,
//! trained by denoising score matching as BESO/EDM (VE, Karras preconditioning) or DDPM
//! (VP, cosine schedule, ε-prediction); samplers; and the score VDD distils from.

use super::schedule::{cosine_alpha_bars, log_logistic, sigmas, Edm, SigmaSchedule};
use crate::autodiff::Tape;
use crate::cpu::diffusion::Step;
use crate::cpu::rng::HostRng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::io::{self, Checkpoint, Meta, Normalization};
use crate::kernels::rng::Dist;
use crate::moe::Activation;
use crate::nn::{Adam, AdamConfig, Ema, LinearDecay, LinearInit, ParamBuilder, ParamStore, ResidualMlp};
use crate::tasks::AnalyticTask;
use crate::tensor::{ops, Tensor};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which diffusion family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TeacherKind {
    /// BESO: EDM / VE with Karras preconditioning.
    Beso,
    /// DDPM: VP, cosine schedule, ε-prediction.
    Ddpm,
}

impl TeacherKind {
    /// The checkpoint kind string.
    pub fn checkpoint_kind(self) -> &'static str {
        match self {
            TeacherKind::Beso => "teacher-beso",
            TeacherKind::Ddpm => "teacher-ddpm",
        }
    }
}

/// Sampling algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Sampler {
    /// VE Euler.
    Euler,
    /// VE Euler with ancestral noise.
    EulerAncestral,
    /// DDIM (deterministic; the EDM form for BESO, η = 0 for DDPM).
    Ddim,
    /// VE Heun (2nd order; two network evaluations per step except the last).
    Heun,
    /// DDPM ancestral sampling (every timestep).
    Ddpm,
}

/// Every hyper-parameter of a teacher, with per-task defaults ([`TeacherConfig::for_task`]);
/// any field can be overridden from a TOML file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeacherConfig {
    /// BESO or DDPM.
    pub kind: TeacherKind,
    /// Hidden width of the residual-MLP denoiser.
    pub hidden: usize,
    /// Hidden layers (two per residual block).
    pub layers: usize,
    /// Activation.
    pub activation: Activation,
    /// Training steps.
    pub steps: u64,
    /// Samples per step.
    pub batch: usize,
    /// Adam learning rate (decays linearly to `lr_end_factor·lr`).
    pub lr: f64,
    /// Final LR factor of the linear decay.
    pub lr_end_factor: f64,
    /// EMA decay of the weights used for sampling and scores.
    pub ema: f32,
    /// σ_data of the preconditioning (BESO).
    pub sigma_data: f64,
    /// Smallest training / sampling σ (BESO).
    pub sigma_min: f64,
    /// Largest σ (BESO); sampling starts from N(0, σ_max²).
    pub sigma_max: f64,
    /// Karras ρ.
    pub rho: f64,
    /// Diffusion timesteps T (DDPM).
    pub timesteps: usize,
    /// Clip the predicted clean action to ±clip while sampling (DDPM; 0 = off).
    pub clip: f64,
    /// Default sampler.
    pub sampler: Sampler,
    /// Default number of sampling steps (BESO; DDIM for DDPM).
    pub sample_steps: usize,
    /// σ schedule of the BESO samplers.
    pub schedule: SigmaSchedule,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        TeacherConfig {
            kind: TeacherKind::Beso,
            hidden: 128,
            layers: 4,
            activation: Activation::Mish,
            steps: 10000,
            batch: 1024,
            lr: 1e-3,
            lr_end_factor: 0.05,
            ema: 0.999,
            sigma_data: 0.5,
            sigma_min: 0.005,
            sigma_max: 5.0,
            rho: 7.0,
            timesteps: 50,
            clip: 0.0,
            sampler: Sampler::EulerAncestral,
            sample_steps: 32,
            schedule: SigmaSchedule::Karras,
        }
    }
}

impl TeacherConfig {
    /// Defaults for `kind` on a task (the analytic toys share them; conditional tasks train longer).
    pub fn for_task(task: &AnalyticTask, kind: TeacherKind) -> Self {
        let mut c = TeacherConfig { kind, ..TeacherConfig::default() };
        if kind == TeacherKind::Ddpm {
            c.ema = 0.995;
            c.sampler = Sampler::Ddpm;
        }
        if task.conditional() {
            c.steps = 16000;
        }
        c
    }

    /// Applies a TOML file's overrides.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the file and the bad key or value.
    pub fn with_toml(self, text: &str, origin: &str) -> Result<Self> {
        let base = toml::Value::try_from(&self).expect("config serialises");
        let over: toml::Value = toml::from_str(text).map_err(|e| Error::invalid("config", format!("{origin}: {e}")))?;
        let merged = merge(base, over);
        let cfg: TeacherConfig = merged.try_into().map_err(|e| Error::invalid("config", format!("{origin}: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::invalid("teacher config", m.to_string()));
        if self.hidden == 0 || self.batch == 0 || self.steps == 0 {
            return bad("hidden, batch and steps must be positive");
        }
        if !(self.sigma_min > 0.0 && self.sigma_min < self.sigma_max) || self.sigma_data <= 0.0 {
            return bad("need 0 < sigma_min < sigma_max and sigma_data > 0");
        }
        if self.timesteps < 2 || self.sample_steps == 0 {
            return bad("timesteps must be ≥ 2 and sample_steps ≥ 1");
        }
        if !(self.lr > 0.0) || !(0.0..1.0).contains(&self.ema) {
            return bad("lr must be positive and ema in [0, 1)");
        }
        Ok(())
    }

    /// Whether `sampler` works with this teacher's kind.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a mismatch (e.g. Heun on a DDPM teacher).
    pub fn check_sampler(&self, sampler: Sampler) -> Result<()> {
        let ok = match self.kind {
            TeacherKind::Beso => sampler != Sampler::Ddpm,
            TeacherKind::Ddpm => matches!(sampler, Sampler::Ddpm | Sampler::Ddim),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::invalid("sampler", format!("{sampler:?} does not apply to a {:?} teacher", self.kind)))
        }
    }
}

/// Recursively overlays `over` on `base` (TOML tables).
pub fn merge(base: toml::Value, over: toml::Value) -> toml::Value {
    match (base, over) {
        (toml::Value::Table(mut b), toml::Value::Table(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            toml::Value::Table(b)
        }
        (_, o) => o,
    }
}

/// Progress of a training run, reported to a callback every step.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Step just finished (1-based).
    pub step: u64,
    /// Total steps.
    pub total: u64,
    /// Its loss.
    pub loss: f64,
}

/// A trained (or loaded) diffusion teacher.
pub struct Teacher {
    /// Hyper-parameters.
    pub cfg: TeacherConfig,
    /// Task it was trained on.
    pub task: String,
    /// State dimension.
    pub state_dim: usize,
    /// Action dimension.
    pub act_dim: usize,
    /// Seed of its training run.
    pub seed: u64,
    /// Standardisation of states and actions; the network works in normalised units.
    pub norm: Normalization,
    net: ResidualMlp,
    store: ParamStore,
    alpha_bars: Vec<f64>,
}

fn build(cfg: &TeacherConfig, sd: usize, ad: usize, device: &Device, seed: u64) -> Result<(ResidualMlp, ParamStore)> {
    let mut pb = ParamBuilder::new();
    let act = cfg.activation.unary();
    let net = ResidualMlp::new(&mut pb, "denoiser", sd + ad + 1, cfg.hidden, cfg.layers, ad, act, LinearInit::Torch);
    Ok((net, pb.build(device, seed)?))
}

impl Teacher {
    /// An untrained teacher (for [`Teacher::train`] or loading).
    ///
    /// # Errors
    /// Invalid configuration; device errors.
    pub fn new(
        cfg: TeacherConfig,
        task: &str,
        state_dim: usize,
        act_dim: usize,
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        cfg.validate()?;
        let (net, store) = build(&cfg, state_dim, act_dim, device, seed)?;
        let alpha_bars = cosine_alpha_bars(cfg.timesteps);
        let norm = Normalization::identity(state_dim, act_dim);
        Ok(Teacher { cfg, task: task.into(), state_dim, act_dim, seed, norm, net, store, alpha_bars })
    }

    /// The parameters.
    pub fn store(&self) -> &ParamStore {
        &self.store
    }

    /// `ᾱ_t` of the DDPM schedule, `t = 0..T−1`.
    pub fn alpha_bars(&self) -> &[f64] {
        &self.alpha_bars
    }

    fn edm(&self) -> Edm {
        Edm { sigma_data: self.cfg.sigma_data }
    }

    /// Network input rows `[state, scaled x, feature]`.
    fn input(&self, states: &[f64], x: &[f64], feat: &[f64], scale: &[f64]) -> Vec<f32> {
        let (sd, ad) = (self.state_dim, self.act_dim);
        let n = feat.len();
        let mut v = Vec::with_capacity(n * (sd + ad + 1));
        for i in 0..n {
            v.extend(states[i * sd..][..sd].iter().map(|&s| s as f32));
            v.extend(x[i * ad..][..ad].iter().map(|&a| (a * scale[i]) as f32));
            v.push(feat[i] as f32);
        }
        v
    }

    /// Trains on samples drawn from `task` (fresh every step), calling `progress` after each
    /// step; the final weights are the EMA weights.
    ///
    /// # Errors
    /// [`Error::Diverged`] when the loss becomes non-finite (naming the step); device errors.
    pub fn train(
        cfg: TeacherConfig,
        task: &AnalyticTask,
        device: &Device,
        seed: u64,
        mut progress: impl FnMut(Progress),
    ) -> Result<Self> {
        let t = Teacher::new(cfg, task.name(), task.state_dim(), task.act_dim(), device, seed)?;
        let cfg = t.cfg.clone();
        let mut adam = Adam::new(&t.store, AdamConfig { lr: cfg.lr, ..AdamConfig::default() })?;
        let sched = LinearDecay { base: cfg.lr, start_factor: 1.0, end_factor: cfg.lr_end_factor, total: cfg.steps };
        let mut ema = Ema::new(&t.store, cfg.ema)?;
        let mut rng = HostRng::new(seed, 1);
        let (b, ad) = (cfg.batch, t.act_dim);
        let edm = t.edm();
        for step in 0..cfg.steps {
            let states = task.sample_states(b, &mut rng);
            let a = task.sample_actions(&states, &mut rng);
            let noise: Vec<f64> = (0..b * ad).map(|_| rng.normal()).collect();
            let (mut x, mut target) = (vec![0.0; b * ad], vec![0f32; b * ad]);
            let (mut feat, mut scale) = (vec![0.0; b], vec![1.0; b]);
            for i in 0..b {
                match cfg.kind {
                    TeacherKind::Beso => {
                        let s = log_logistic(rng.uniform(), cfg.sigma_data.ln(), 0.5, cfg.sigma_min, cfg.sigma_max);
                        feat[i] = s.ln() / 4.0;
                        scale[i] = edm.c_in(s);
                        for j in 0..ad {
                            let xi = a[i * ad + j] + s * noise[i * ad + j];
                            x[i * ad + j] = xi;
                            target[i * ad + j] = ((a[i * ad + j] - edm.c_skip(s) * xi) / edm.c_out(s)) as f32;
                        }
                    }
                    TeacherKind::Ddpm => {
                        let ti = rng.below(cfg.timesteps);
                        let ab = t.alpha_bars[ti];
                        feat[i] = ti as f64 / cfg.timesteps as f64;
                        for j in 0..ad {
                            x[i * ad + j] = ab.sqrt() * a[i * ad + j] + (1.0 - ab).sqrt() * noise[i * ad + j];
                            target[i * ad + j] = noise[i * ad + j] as f32;
                        }
                    }
                }
            }
            let input = t.input(&states, &x, &feat, &scale);
            let tape = Tape::new(&t.store, true, seed.wrapping_add(step));
            let inp = tape.constant(Tensor::from_slice(device, &input, &[b, t.state_dim + ad + 1])?);
            let tgt = tape.constant(Tensor::from_slice(device, &target, &[b, ad])?);
            let out = t.net.forward(&tape, &inp)?;
            let loss = tape.mse(&out, &tgt)?;
            let lv = loss.value().clone();
            tape.backward(&loss)?;
            adam.step(&t.store, sched.lr(step))?;
            ema.update(&t.store)?;
            let l = lv.item()?;
            if !l.is_finite() {
                return Err(Error::Diverged { step: step + 1, msg: format!("teacher loss is {l}") });
            }
            progress(Progress { step: step + 1, total: cfg.steps, loss: l });
        }
        t.store.load(&ema.values().to_vec()?)?;
        Ok(t)
    }

    /// `n` actions per state row of `states` (`[m, state_dim]` → `[m·n, act_dim]`, grouped by
    /// state) with `sampler` and `steps` (None: the configured defaults). Runs on the teacher's
    /// device; every step is one fused kernel after the network.
    ///
    /// # Errors
    /// A sampler that does not fit the teacher's kind; device errors.
    pub fn sample(
        &self,
        states: &[f64],
        n: usize,
        sampler: Option<Sampler>,
        steps: Option<usize>,
        seed: u64,
    ) -> Result<Vec<f64>> {
        let sampler = sampler.unwrap_or(self.cfg.sampler);
        self.cfg.check_sampler(sampler)?;
        let (sd, ad) = (self.state_dim, self.act_dim);
        let m = states.len() / sd.max(1);
        let rows = m * n;
        let dev = self.store.device();
        let st: Vec<f32> = (0..rows).flat_map(|r| states[(r / n) * sd..][..sd].iter().map(|&v| v as f32)).collect();
        let st = Tensor::from_slice(&dev, &st, &[rows, sd])?;
        let mut stream = 0u64;
        let mut normal = |shape: &[usize]| {
            stream += 1;
            ops::random(&dev, shape, Dist::Normal { mean: 0.0, std: 1.0 }, seed, stream << 40)
        };
        let feat = |v: f64| Tensor::full(&dev, &[rows, 1], v as f32);
        // F(x) at noise feature `f` with input scale `c`.
        let net = |x: &Tensor, c: f64, f: f64| -> Result<Tensor> {
            let tape = Tape::new(&self.store, false, 0);
            let xs = tape.constant(ops::unary(x, crate::cpu::elementwise::Unary::Scale(c as f32))?);
            let inp = tape.concat(&[&tape.constant(st.clone()), &xs, &tape.constant(feat(f)?)], 1)?;
            Ok(self.net.forward(&tape, &inp)?.value().clone())
        };
        let mut x;
        if self.cfg.kind == TeacherKind::Beso {
            let edm = self.edm();
            let c = &self.cfg;
            let sig = sigmas(c.schedule, steps.unwrap_or(c.sample_steps), c.sigma_min, c.sigma_max, c.rho);
            x = ops::unary(&normal(&[rows, ad])?, crate::cpu::elementwise::Unary::Scale(sig[0] as f32))?;
            for w in sig.windows(2) {
                let (s, sn) = (w[0], w[1]);
                let f = net(&x, edm.c_in(s), s.ln() / 4.0)?;
                let (cs, co) = (edm.c_skip(s) as f32, edm.c_out(s) as f32);
                x = match sampler {
                    Sampler::EulerAncestral if sn > 0.0 => {
                        let up = (sn * sn * (s * s - sn * sn) / (s * s)).sqrt().min(sn);
                        let down = (sn * sn - up * up).sqrt();
                        let z = normal(&[rows, ad])?;
                        ops::sampler_step(
                            Step::Ve,
                            &[cs, co, s as f32, down as f32, up as f32, 0.0, 0.0, 0.0],
                            &x,
                            &f,
                            &z,
                        )?
                    }
                    Sampler::Heun if sn > 0.0 => {
                        let c = [cs, co, s as f32, sn as f32, 0.0, 0.0, 0.0, 0.0];
                        let x2 = ops::sampler_step(Step::Ve, &c, &x, &f, &x)?;
                        let f2 = net(&x2, edm.c_in(sn), sn.ln() / 4.0)?;
                        let c = [cs, co, s as f32, sn as f32, 0.0, edm.c_skip(sn) as f32, edm.c_out(sn) as f32, 0.0];
                        ops::sampler_step(Step::VeHeun, &c, &x, &f, &f2)?
                    }
                    // Euler, DDIM (identical in the EDM parameterisation) and every last step.
                    _ => ops::sampler_step(Step::Ve, &[cs, co, s as f32, sn as f32, 0.0, 0.0, 0.0, 0.0], &x, &f, &x)?,
                };
            }
        } else {
            let tt = self.cfg.timesteps;
            let ts: Vec<usize> = match sampler {
                Sampler::Ddpm => (0..tt).rev().collect(),
                _ => {
                    let k = steps.unwrap_or(self.cfg.sample_steps).clamp(1, tt);
                    let mut v: Vec<usize> = (0..k).map(|i| (i * (tt - 1)) / (k - 1).max(1)).collect();
                    v.dedup();
                    v.into_iter().rev().collect()
                }
            };
            x = normal(&[rows, ad])?;
            for (i, &t) in ts.iter().enumerate() {
                let ab = self.alpha_bars[t];
                let prev = ts.get(i + 1).map_or(1.0, |&p| self.alpha_bars[p]);
                let f = net(&x, 1.0, t as f64 / tt as f64)?;
                let (s0, s1) = (ab.sqrt() as f32, (1.0 - ab).sqrt() as f32);
                let clip = self.cfg.clip as f32;
                x = if sampler == Sampler::Ddpm {
                    let alpha = ab / prev;
                    let beta = 1.0 - alpha;
                    let c1 = beta * prev.sqrt() / (1.0 - ab);
                    let c2 = (1.0 - prev) * alpha.sqrt() / (1.0 - ab);
                    let var = beta * (1.0 - prev) / (1.0 - ab);
                    let z = normal(&[rows, ad])?;
                    let c = [s0, s1, clip, c1 as f32, c2 as f32, 0.0, var.sqrt() as f32, 0.0];
                    ops::sampler_step(Step::Vp, &c, &x, &f, &z)?
                } else {
                    let c = [s0, s1, clip, prev.sqrt() as f32, 0.0, (1.0 - prev).sqrt() as f32, 0.0, 0.0];
                    ops::sampler_step(Step::Vp, &c, &x, &f, &x)?
                };
            }
        }
        x.to_vec64()
    }

    /// The teacher's score at clean query actions fed as the noisy input (spec §2.4 item 3):
    /// BESO `(D(a; s, σ) − a)/σ²` with `level = σ` per row; DDPM `−ε(a, t, s)/√(1 − ᾱ_t)` with
    /// `level = t` (an integer timestep) per row. Host in, host out; see [`Teacher::score_tensor`].
    ///
    /// # Shapes
    /// `states: [n, state_dim]`, `actions: [n, act_dim]`, `levels: [n]` → `[n, act_dim]`.
    ///
    /// # Errors
    /// Shape mismatches; a timestep outside `0..T`; device errors.
    pub fn score(&self, states: &[f64], actions: &[f64], levels: &[f64]) -> Result<Vec<f64>> {
        let n = levels.len();
        if states.len() != n * self.state_dim || actions.len() != n * self.act_dim {
            return Err(Error::shape(
                "teacher score",
                format!("{} state and {} action values for {n} rows", states.len(), actions.len()),
            ));
        }
        let dev = self.store.device();
        let st = Tensor::from_f64(&dev, states, &[n, self.state_dim])?;
        let x = Tensor::from_f64(&dev, actions, &[n, self.act_dim])?;
        self.score_tensor(&st, &x, levels)?.to_vec64()
    }

    /// [`Teacher::score`] on device tensors (normalised units): nothing is read back, so a
    /// distillation step that queries the teacher stays one submission.
    ///
    /// # Shapes
    /// `states: [n, state_dim]`, `actions: [n, act_dim]`, `levels: [n]` → `[n, act_dim]`.
    ///
    /// # Errors
    /// As [`Teacher::score`].
    pub fn score_tensor(&self, states: &Tensor, actions: &Tensor, levels: &[f64]) -> Result<Tensor> {
        let n = levels.len();
        if states.shape() != [n, self.state_dim] || actions.shape() != [n, self.act_dim] {
            return Err(Error::shape(
                "teacher score",
                format!("states {:?} and actions {:?} for {n} levels", states.shape(), actions.shape()),
            ));
        }
        let dev = self.store.device();
        let (kind, feat, scale, aux): (Step, Vec<f64>, Vec<f64>, Vec<f64>) = match self.cfg.kind {
            TeacherKind::Beso => {
                let edm = self.edm();
                if let Some(bad) = levels.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
                    return Err(Error::invalid("teacher score", format!("noise level σ = {bad}")));
                }
                let feat = levels.iter().map(|s| s.ln() / 4.0).collect();
                (Step::VeScore, feat, levels.iter().map(|&s| edm.c_in(s)).collect(), levels.to_vec())
            }
            TeacherKind::Ddpm => {
                let tt = self.cfg.timesteps;
                let mut aux = Vec::with_capacity(n);
                for &l in levels {
                    if !(l >= 0.0 && (l as usize) < tt && l.fract() == 0.0) {
                        return Err(Error::invalid("teacher score", format!("DDPM timestep {l} outside 0..{tt}")));
                    }
                    aux.push((1.0 - self.alpha_bars[l as usize]).sqrt());
                }
                (Step::VpScore, levels.iter().map(|t| t / tt as f64).collect(), vec![1.0; n], aux)
            }
        };
        let scale = Tensor::from_f64(&dev, &scale, &[n, 1])?;
        let xs = ops::binary(actions, &scale, crate::cpu::elementwise::Binary::Mul)?;
        let feat = Tensor::from_f64(&dev, &feat, &[n, 1])?;
        let inp = ops::concat(&[states, &xs, &feat], 1)?;
        let tape = Tape::new(&self.store, false, 0);
        let f = self.net.forward(&tape, &tape.constant(inp))?.value().clone();
        let aux = Tensor::from_f64(&dev, &aux, &[n])?;
        let c = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, self.cfg.sigma_data as f32];
        ops::sampler_step(kind, &c, actions, &f, &aux)
    }

    /// The DDPM timesteps whose equivalent VE noise level `√((1 − ᾱ_t)/ᾱ_t)` lies in
    /// `[lo, hi]` (at least the closest one), for querying a DDPM teacher at a noise range.
    pub fn timesteps_for(&self, lo: f64, hi: f64) -> Vec<usize> {
        let eq = |t: usize| ((1.0 - self.alpha_bars[t]) / self.alpha_bars[t]).sqrt();
        let v: Vec<usize> = (0..self.alpha_bars.len()).filter(|&t| (lo..=hi).contains(&eq(t))).collect();
        if !v.is_empty() {
            return v;
        }
        let mid = 0.5 * (lo + hi);
        let best = (0..self.alpha_bars.len()).min_by(|&a, &b| (eq(a) - mid).abs().total_cmp(&(eq(b) - mid).abs()));
        best.into_iter().collect()
    }

    /// Writes the teacher to `path` (atomically).
    ///
    /// # Errors
    /// File and device errors.
    pub fn save(&self, path: &Path, extra: serde_json::Value) -> Result<()> {
        let mut meta = Meta::new(self.cfg.kind.checkpoint_kind(), &self.task, self.seed);
        meta.model = serde_json::json!({ "state_dim": self.state_dim, "act_dim": self.act_dim, "config": self.cfg });
        meta.normalization = serde_json::to_value(&self.norm).expect("statistics serialise");
        meta.training = serde_json::to_value(&self.cfg).expect("config serialises");
        meta.extra = extra;
        io::save(path, &meta, &self.store, None)
    }

    /// Loads a teacher checkpoint onto `device`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for a file that is not a teacher or does not match its own
    /// configuration; file and device errors.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let ck = io::load(path, &["teacher-beso", "teacher-ddpm"])?;
        Self::from_checkpoint(&ck, path, device)
    }

    /// Builds a teacher from an already loaded checkpoint.
    ///
    /// # Errors
    /// As [`Teacher::load`].
    pub fn from_checkpoint(ck: &Checkpoint, path: &Path, device: &Device) -> Result<Self> {
        let bad = |msg: String| Error::Checkpoint { path: path.display().to_string(), msg };
        let m = &ck.meta.model;
        let dim = |k: &str| {
            m.get(k)
                .and_then(serde_json::Value::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| bad(format!("model metadata lacks {k}")))
        };
        let (sd, ad) = (dim("state_dim")?, dim("act_dim")?);
        let cfg: TeacherConfig = serde_json::from_value(m.get("config").cloned().unwrap_or_default())
            .map_err(|e| bad(format!("teacher configuration: {e}")))?;
        let mut t = Teacher::new(cfg, &ck.meta.task, sd, ad, device, ck.meta.seed)?;
        t.norm = serde_json::from_value(ck.meta.normalization.clone())
            .map_err(|e| bad(format!("normalization statistics: {e}")))?;
        t.norm.validate(sd, ad).map_err(|e| bad(e.to_string()))?;
        ck.load_into(path, &t.store)?;
        Ok(t)
    }
}
