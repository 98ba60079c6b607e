//! Diffusion teachers: a denoiser network ([`Denoiser`]: residual MLP for single states,
//! DiffusionGPT for observation windows) trained by denoising score matching as BESO/EDM (VE,
//! Karras preconditioning) or DDPM (VP, cosine schedule, ε-prediction); samplers; and the score
//! VDD distils from. Everything runs in the teacher's normalised units.

use super::config::{Sampler, TeacherConfig, TeacherKind};
use super::denoiser::Denoiser;
use super::schedule::{cosine_alpha_bars, log_logistic, sigmas, Edm};
use crate::autodiff::Tape;
use crate::cpu::diffusion::Step;
use crate::cpu::elementwise::{Binary, Unary};
use crate::cpu::rng::HostRng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::io::{self, Checkpoint, Meta, Normalization};
use crate::kernels::rng::Dist;
use crate::nn::{Adam, AdamConfig, Ema, LinearDecay, ParamBuilder, ParamStore};
use crate::tasks::DistillData;
use crate::tensor::{ops, Tensor};
use std::path::Path;

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
    net: Denoiser,
    store: ParamStore,
    alpha_bars: Vec<f64>,
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
        let mut pb = ParamBuilder::new();
        let net = Denoiser::new(&mut pb, &cfg.net, state_dim, act_dim)?;
        let store = pb.build(device, seed)?;
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

    /// Number of network parameters.
    pub fn num_params(&self) -> usize {
        self.store.numel()
    }

    /// The observation window T the network takes.
    pub fn window(&self) -> usize {
        self.cfg.net.window()
    }

    /// Trains on batches of `data` (normalised windows), calling `progress` after each step;
    /// the final weights are the EMA weights. `norm` is stored with the teacher.
    ///
    /// # Errors
    /// [`Error::Diverged`] when the loss becomes non-finite (naming the step); shape errors
    /// when the data's sizes do not fit the configuration; device errors.
    pub fn train(
        cfg: TeacherConfig,
        task: &str,
        data: &mut dyn DistillData,
        norm: Normalization,
        device: &Device,
        seed: u64,
        mut progress: impl FnMut(Progress),
    ) -> Result<Self> {
        let (sd, ad, t) = (data.obs_dim(), data.act_dim(), data.window());
        let mut teacher = Teacher::new(cfg, task, sd, ad, device, seed)?;
        norm.validate(sd, ad)?;
        teacher.norm = norm;
        if t > teacher.window() {
            return Err(Error::shape(
                "teacher",
                format!("data windows of {t} for a network window of {}", teacher.window()),
            ));
        }
        let cfg = teacher.cfg.clone();
        let mut adam = Adam::new(&teacher.store, AdamConfig { lr: cfg.lr, ..AdamConfig::default() })?;
        let sched = LinearDecay { base: cfg.lr, start_factor: 1.0, end_factor: cfg.lr_end_factor, total: cfg.steps };
        let mut ema = Ema::new(&teacher.store, cfg.ema)?;
        let mut rng = HostRng::new(seed, 1);
        let b = cfg.batch;
        let per = t * ad;
        let edm = teacher.edm();
        for step in 0..cfg.steps {
            let (states, a) = data.batch(b, &mut rng);
            let (mut xs, mut target) = (vec![0.0; b * per], vec![0.0; b * per]);
            let mut feat = vec![0.0; b];
            for i in 0..b {
                let r = i * per..(i + 1) * per;
                match cfg.kind {
                    TeacherKind::Beso => {
                        let s = log_logistic(rng.uniform(), cfg.sigma_data.ln(), 0.5, cfg.sigma_min, cfg.sigma_max);
                        feat[i] = s.ln() / 4.0;
                        let (ci, cs, co) = (edm.c_in(s), edm.c_skip(s), edm.c_out(s));
                        for j in r {
                            let x = a[j] + s * rng.normal();
                            xs[j] = ci * x;
                            target[j] = (a[j] - cs * x) / co;
                        }
                    }
                    TeacherKind::Ddpm => {
                        let u = rng.uniform().powf(cfg.t_power);
                        let ti = ((u * cfg.timesteps as f64) as usize).min(cfg.timesteps - 1);
                        let ab = teacher.alpha_bars[ti];
                        feat[i] = ti as f64 / cfg.timesteps as f64;
                        for j in r {
                            let e = rng.normal();
                            xs[j] = ab.sqrt() * a[j] + (1.0 - ab).sqrt() * e;
                            target[j] = e;
                        }
                    }
                }
            }
            let tape = Tape::new(&teacher.store, true, seed.wrapping_add(step));
            let c = |v: &[f64], shape: &[usize]| Tensor::from_f64(device, v, shape).map(|t| tape.constant(t));
            let out =
                teacher.net.forward(&tape, &c(&states, &[b, t, sd])?, &c(&xs, &[b, t, ad])?, &c(&feat, &[b, 1])?)?;
            let loss = tape.mse(&out, &c(&target, &[b, t, ad])?)?;
            let lv = loss.value().clone();
            tape.backward(&loss)?;
            adam.step(&teacher.store, sched.lr(step))?;
            ema.update(&teacher.store)?;
            let l = lv.item()?;
            if !l.is_finite() {
                return Err(Error::Diverged { step: step + 1, msg: format!("teacher loss is {l}") });
            }
            progress(Progress { step: step + 1, total: cfg.steps, loss: l });
        }
        teacher.store.load(&ema.values().to_vec()?)?;
        Ok(teacher)
    }

    /// `n` actions per state row of `states` (raw units, `[m, state_dim]` → `[m·n, act_dim]`,
    /// grouped by state) with `sampler` and `steps` (None: the configured defaults).
    ///
    /// # Errors
    /// A sampler that does not fit the teacher's kind; a windowed teacher; device errors.
    pub fn sample(
        &self,
        states: &[f64],
        n: usize,
        sampler: Option<Sampler>,
        steps: Option<usize>,
        seed: u64,
    ) -> Result<Vec<f64>> {
        self.sample_windows(states, 1, n, sampler, steps, seed)
    }

    /// `n` action windows per observation window (raw units, `[m, t, state_dim]` →
    /// `[m·n, t, act_dim]`, grouped by window). Runs on the teacher's device; each step is the
    /// network and one fused sampler kernel.
    ///
    /// # Errors
    /// As [`Teacher::sample`]; a window longer than the network's.
    pub fn sample_windows(
        &self,
        obs: &[f64],
        t: usize,
        n: usize,
        sampler: Option<Sampler>,
        steps: Option<usize>,
        seed: u64,
    ) -> Result<Vec<f64>> {
        let sd = self.state_dim;
        if t == 0 || t > self.window() || !obs.len().is_multiple_of(t * sd) {
            return Err(Error::shape(
                "teacher sample",
                format!(
                    "{} observation values for windows of {t} × {sd} (network window {})",
                    obs.len(),
                    self.window()
                ),
            ));
        }
        let m = obs.len() / (t * sd);
        let mut st: Vec<f64> = Vec::with_capacity(m * n * t * sd);
        for w in obs.chunks(t * sd) {
            (0..n).for_each(|_| st.extend_from_slice(w));
        }
        self.norm.states(&mut st);
        let st = Tensor::from_f64(&self.store.device(), &st, &[m * n, t, sd])?;
        let mut x = self.sample_tensor(&st, sampler, steps, seed)?.to_vec64()?;
        self.norm.unnormalize_actions(&mut x);
        Ok(x)
    }

    /// Samples action windows for normalised observation windows `states: [rows, t, sd]` →
    /// `[rows, t, ad]` (normalised).
    ///
    /// # Errors
    /// As [`Teacher::sample`].
    pub fn sample_tensor(
        &self,
        states: &Tensor,
        sampler: Option<Sampler>,
        steps: Option<usize>,
        seed: u64,
    ) -> Result<Tensor> {
        let sampler = sampler.unwrap_or(self.cfg.sampler);
        self.cfg.check_sampler(sampler)?;
        let (rows, t, ad) = (states.shape()[0], states.shape()[1], self.act_dim);
        let shape = [rows, t, ad];
        let dev = self.store.device();
        let mut stream = 0u64;
        let mut normal = || {
            stream += 1;
            ops::random(&dev, &shape, Dist::Normal { mean: 0.0, std: 1.0 }, seed, stream << 40)
        };
        // F(x) at noise feature `f` with input scale `c`.
        let net = |x: &Tensor, c: f64, f: f64| -> Result<Tensor> {
            let tape = Tape::inference(&self.store);
            let xs = tape.constant(ops::unary(x, Unary::Scale(c as f32))?);
            let feat = tape.constant(Tensor::full(&dev, &[rows, 1], f as f32)?);
            Ok(self.net.forward(&tape, &tape.constant(states.clone()), &xs, &feat)?.value().clone())
        };
        let mut x;
        if self.cfg.kind == TeacherKind::Beso {
            let edm = self.edm();
            let c = &self.cfg;
            let sig = sigmas(c.schedule, steps.unwrap_or(c.sample_steps), c.sigma_min, c.sigma_max, c.rho);
            x = ops::unary(&normal()?, Unary::Scale(sig[0] as f32))?;
            for w in sig.windows(2) {
                let (s, sn) = (w[0], w[1]);
                let f = net(&x, edm.c_in(s), s.ln() / 4.0)?;
                let (cs, co) = (edm.c_skip(s) as f32, edm.c_out(s) as f32);
                x = match sampler {
                    Sampler::EulerAncestral if sn > 0.0 => {
                        let up = (sn * sn * (s * s - sn * sn) / (s * s)).sqrt().min(sn);
                        let down = (sn * sn - up * up).sqrt();
                        let c = [cs, co, s as f32, down as f32, up as f32, 0.0, 0.0, 0.0];
                        ops::sampler_step(Step::Ve, &c, &x, &f, &normal()?)?
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
            x = normal()?;
            for (i, &ti) in ts.iter().enumerate() {
                let ab = self.alpha_bars[ti];
                let prev = ts.get(i + 1).map_or(1.0, |&p| self.alpha_bars[p]);
                let f = net(&x, 1.0, ti as f64 / tt as f64)?;
                let (s0, s1) = (ab.sqrt() as f32, (1.0 - ab).sqrt() as f32);
                let clip = self.cfg.clip as f32;
                x = if sampler == Sampler::Ddpm {
                    let alpha = ab / prev;
                    let beta = 1.0 - alpha;
                    let c1 = beta * prev.sqrt() / (1.0 - ab);
                    let c2 = (1.0 - prev) * alpha.sqrt() / (1.0 - ab);
                    let var = beta * (1.0 - prev) / (1.0 - ab);
                    let c = [s0, s1, clip, c1 as f32, c2 as f32, 0.0, var.sqrt() as f32, 0.0];
                    ops::sampler_step(Step::Vp, &c, &x, &f, &normal()?)?
                } else {
                    let c = [s0, s1, clip, prev.sqrt() as f32, 0.0, (1.0 - prev).sqrt() as f32, 0.0, 0.0];
                    ops::sampler_step(Step::Vp, &c, &x, &f, &x)?
                };
            }
        }
        Ok(x)
    }

    /// The teacher's score at clean query actions fed as the noisy input (spec §2.4 item 3):
    /// BESO `(D(a; s, σ) − a)/σ²` with `level = σ` per row; DDPM `−ε(a, t, s)/√(1 − ᾱ_t)` with
    /// `level = t` (an integer timestep) per row. Normalised units, host in and out; see
    /// [`Teacher::score_tensor`].
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
        let st = Tensor::from_f64(&dev, states, &[n, 1, self.state_dim])?;
        let x = Tensor::from_f64(&dev, actions, &[n, 1, self.act_dim])?;
        self.score_tensor(&st, &x, levels)?.to_vec64()
    }

    /// [`Teacher::score`] on device tensors (normalised units), for windows: nothing is read
    /// back, so a distillation step that queries the teacher stays one submission. The noise
    /// level is shared by the positions of a window.
    ///
    /// # Shapes
    /// `states: [n, t, state_dim]`, `actions: [n, t, act_dim]`, `levels: [n]` → `[n, t, act_dim]`.
    ///
    /// # Errors
    /// As [`Teacher::score`].
    pub fn score_tensor(&self, states: &Tensor, actions: &Tensor, levels: &[f64]) -> Result<Tensor> {
        let n = levels.len();
        let t = states.shape().get(1).copied().unwrap_or(0);
        if states.shape() != [n, t, self.state_dim] || actions.shape() != [n, t, self.act_dim] || t == 0 {
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
        let xs = ops::binary(actions, &Tensor::from_f64(&dev, &scale, &[n, 1, 1])?, Binary::Mul)?;
        let tape = Tape::inference(&self.store);
        let feat = tape.constant(Tensor::from_f64(&dev, &feat, &[n, 1])?);
        let f = self.net.forward(&tape, &tape.constant(states.clone()), &tape.constant(xs), &feat)?.value().clone();
        // One level per (sequence, position) row of act_dim values.
        let aux: Vec<f64> = aux.iter().flat_map(|&v| std::iter::repeat_n(v, t)).collect();
        let aux = Tensor::from_f64(&dev, &aux, &[n * t])?;
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
