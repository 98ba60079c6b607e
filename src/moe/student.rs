//! A trained (or trainable) Gaussian-mixture student: the network, its parameters and the
//! normalisation it works in; mixtures per state, sampling, log-density, acting, checkpoints.

use super::{HeadConfig, StudentConfig, StudentNet};
use crate::autodiff::Tape;
use crate::cpu::gaussian::{self as cpu, ExpertShape};
use crate::cpu::rng::HostRng;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::io::{self, Checkpoint, Meta, Normalization};
use crate::nn::{ParamBuilder, ParamStore};
use crate::tensor::Tensor;
use std::path::Path;

/// The checkpoint kind of a student.
pub const STUDENT_KIND: &str = "student";

/// How the mean head's output bias starts (its weight starts at zero, spec §2.9).
#[derive(Clone, Debug, PartialEq)]
pub enum MeanInit {
    /// Uniform in `[−b, b]` per coordinate (the reference).
    Uniform(f64),
    /// Given centres `[Z, d]` in normalised units (e.g. k-means of data).
    Centres(Vec<f64>),
}

/// Mixtures at a batch of states, in raw action units: `weights [n, Z]`, `means [n, Z, d]`,
/// lower Cholesky factors `chols [n, Z, d, d]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixtures {
    /// States.
    pub n: usize,
    /// Experts.
    pub experts: usize,
    /// Action dimension.
    pub dim: usize,
    /// Gating probabilities.
    pub weights: Vec<f64>,
    /// Expert means.
    pub means: Vec<f64>,
    /// Expert Cholesky factors.
    pub chols: Vec<f64>,
}

impl Mixtures {
    /// Covariance `L Lᵀ` of expert `z` at state `i` (row-major `d×d`).
    pub fn cov(&self, i: usize, z: usize) -> Vec<f64> {
        let d = self.dim;
        let l = &self.chols[(i * self.experts + z) * d * d..][..d * d];
        let mut c = vec![0.0; d * d];
        for r in 0..d {
            for s in 0..d {
                c[r * d + s] = (0..d).map(|k| l[r * d + k] * l[s * d + k]).sum();
            }
        }
        c
    }

    /// `n_per` samples from each state's mixture, grouped by state (`[n·n_per, d]`).
    pub fn sample(&self, n_per: usize, rng: &mut HostRng) -> Vec<f64> {
        let (z, d) = (self.experts, self.dim);
        let mut out = Vec::with_capacity(self.n * n_per * d);
        let mut eps = vec![0.0; d];
        for i in 0..self.n {
            let w = &self.weights[i * z..][..z];
            for _ in 0..n_per {
                let k = rng.categorical(w);
                eps.iter_mut().for_each(|e| *e = rng.normal());
                let (mu, l) = (&self.means[(i * z + k) * d..][..d], &self.chols[(i * z + k) * d * d..][..d * d]);
                for r in 0..d {
                    out.push(mu[r] + (0..=r).map(|c| l[r * d + c] * eps[c]).sum::<f64>());
                }
            }
        }
        out
    }

    /// `log q(a | s_i)` of many actions `[m, d]` under state `i`'s mixture.
    pub fn log_prob_many(&self, i: usize, actions: &[f64]) -> Vec<f64> {
        let (z, d) = (self.experts, self.dim);
        let m = actions.len() / d;
        let rep = |v: &[f64], w: usize| -> Vec<f64> { (0..m).flat_map(|_| v[i * w..][..w].iter().copied()).collect() };
        let one = Mixtures {
            n: m,
            experts: z,
            dim: d,
            weights: rep(&self.weights, z),
            means: rep(&self.means, z * d),
            chols: rep(&self.chols, z * d * d),
        };
        one.log_prob(actions)
    }

    /// `log q(a_i | s_i)` of one action per state (`actions: [n, d]`).
    pub fn log_prob(&self, actions: &[f64]) -> Vec<f64> {
        let s = ExpertShape { rows: self.n, experts: self.experts, samples: 1, dim: self.dim };
        let log_g: Vec<f64> = self.weights.iter().map(|w| w.max(1e-300).ln()).collect();
        let mut lq = vec![0.0; self.n];
        let mut scratch = vec![0.0; self.n * self.experts];
        cpu::mixture_log_prob(&s, &self.means, &self.chols, &log_g, actions, &mut lq, &mut scratch);
        lq
    }
}

/// The student: network, parameters, normalisation and provenance.
pub struct Student {
    /// The network.
    pub net: StudentNet,
    /// Its parameters.
    pub store: ParamStore,
    /// Standardisation (the teacher's); the network works in normalised units.
    pub norm: Normalization,
    /// Task it was trained on.
    pub task: String,
    /// Seed of the run.
    pub seed: u64,
}

impl Student {
    /// A freshly initialised student (spec §2.9): orthogonal heads (hidden layers with the
    /// configured gain, 0.01 in the spec; the Cholesky output layer with gain 0.01), the mean
    /// head's last layer with zero weight and its bias from `mean_init`, std `init_std`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for inconsistent sizes (or centres of the wrong length);
    /// device errors.
    pub fn new(
        cfg: StudentConfig,
        norm: Normalization,
        mean_init: &MeanInit,
        task: &str,
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        norm.validate(cfg.obs_dim, cfg.act_dim)?;
        let mut pb = ParamBuilder::new();
        let net = StudentNet::new(&mut pb, cfg)?;
        let store = pb.build(device, seed)?;
        let (z, d) = (net.cfg.experts, net.cfg.act_dim);
        let bias = match mean_init {
            MeanInit::Uniform(b) => {
                let mut rng = HostRng::new(seed, 0x3ea1);
                (0..z * d).map(|_| rng.range(-b, *b)).collect()
            }
            MeanInit::Centres(c) if c.len() == z * d => c.clone(),
            MeanInit::Centres(c) => {
                return Err(Error::invalid(
                    "student init",
                    format!("{} centre values for {z} experts × {d} dims", c.len()),
                ))
            }
        };
        let (w, b) = net.mean_output();
        store.tensor(w).write(&vec![0.0; store.tensor(w).numel()])?;
        store.tensor(b).write_f64(&bias)?;
        let gain = net.cfg.cov.gain;
        if gain != HeadConfig::spec_gain() {
            let w = store.tensor(net.cov_output());
            let scaled: Vec<f64> =
                w.to_vec64()?.iter().map(|v| v * f64::from(HeadConfig::spec_gain() / gain)).collect();
            w.write_f64(&scaled)?;
        }
        Ok(Student { net, store, norm, task: task.into(), seed })
    }

    /// Its configuration.
    pub fn cfg(&self) -> &StudentConfig {
        &self.net.cfg
    }

    /// The device it runs on.
    pub fn device(&self) -> Device {
        self.store.device()
    }

    /// Raw observation windows `[n, t, obs_dim]` normalised onto the device: `(n, tensor)`.
    fn obs_tensor(&self, obs: &[f64], t: usize) -> Result<(usize, Tensor)> {
        let sd = self.net.cfg.obs_dim;
        if t == 0 || !obs.len().is_multiple_of(t * sd) {
            return Err(Error::shape("student", format!("{} observation values for windows of {t} × {sd}", obs.len())));
        }
        let n = obs.len() / (t * sd);
        let mut x = obs.to_vec();
        self.norm.states(&mut x);
        Ok((n, Tensor::from_f64(&self.device(), &x, &[n, t, sd])?))
    }

    /// Mixtures at the **last** position of raw observation windows `[n, t, obs_dim]` (t ≤ T),
    /// in raw action units.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong length; device errors.
    pub fn mixtures(&self, obs: &[f64], t: usize) -> Result<Mixtures> {
        let (z, d) = (self.net.cfg.experts, self.net.cfg.act_dim);
        let (n, x) = self.obs_tensor(obs, t)?;
        let tape = Tape::inference(&self.store);
        let out = self.net.forward(&tape, &tape.constant(x))?;
        let (mean, chol) = (out.mean.value().to_vec64()?, out.chol.value().to_vec64()?);
        let log_g = match &out.log_gates {
            Some(g) => Some(g.value().to_vec64()?),
            None => None,
        };
        let last = t - 1;
        let mut m = Mixtures {
            n,
            experts: z,
            dim: d,
            weights: Vec::with_capacity(n * z),
            means: Vec::with_capacity(n * z * d),
            chols: Vec::with_capacity(n * z * d * d),
        };
        let std = &self.norm.action_std;
        for i in 0..n {
            let row = i * t + last;
            match &log_g {
                Some(g) => m.weights.extend(g[row * z..][..z].iter().map(|v| v.exp())),
                None => m.weights.extend(std::iter::repeat_n(1.0 / z as f64, z)),
            }
            for e in 0..z {
                let mu = &mean[(row * z + e) * d..][..d];
                m.means.extend(mu.iter().enumerate().map(|(k, v)| v * std[k] + self.norm.action_mean[k]));
                let l = &chol[(row * z + e) * d * d..][..d * d];
                m.chols.extend(l.iter().enumerate().map(|(k, v)| v * std[k / d]));
            }
        }
        Ok(m)
    }

    /// The device half of [`Student::act`]: for normalised windows `x: [n, t, obs_dim]`, one
    /// row per window of the experts' means at the last position (normalised, `Z·d` values)
    /// followed, with a learned gating, by the `Z` log gates — one tensor, so acting reads
    /// the device once (every read is a submission and a wait).
    ///
    /// # Shapes
    /// `[n, t, obs_dim]` → `[n, Z·d]` or `[n, Z·d + Z]`.
    ///
    /// # Errors
    /// Shape and device errors.
    pub fn act_rows(&self, x: &Tensor) -> Result<Tensor> {
        let tape = Tape::inference(&self.store);
        self.net.act_rows(&tape, &tape.constant(x.clone()))
    }

    /// The action for each observation window (spec §3.4): sample an expert from the gating
    /// (or take the most probable with `greedy`) and return its mean, raw units `[n, d]`.
    ///
    /// # Errors
    /// As [`Student::mixtures`].
    pub fn act(&self, obs: &[f64], t: usize, greedy: bool, rng: &mut HostRng) -> Result<Vec<f64>> {
        let (z, d) = (self.net.cfg.experts, self.net.cfg.act_dim);
        let (n, x) = self.obs_tensor(obs, t)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = self.act_rows(&x)?.to_vec64()?;
        let width = rows.len() / n;
        let mut out = Vec::with_capacity(n * d);
        for row in rows.chunks(width) {
            let w: Vec<f64> =
                if width > z * d { row[z * d..].iter().map(|v| v.exp()).collect() } else { vec![1.0 / z as f64; z] };
            let k =
                if greedy { (0..z).max_by(|&a, &b| w[a].total_cmp(&w[b])).unwrap_or(0) } else { rng.categorical(&w) };
            let mu = &row[k * d..][..d];
            out.extend(mu.iter().enumerate().map(|(j, v)| v * self.norm.action_std[j] + self.norm.action_mean[j]));
        }
        Ok(out)
    }

    /// Writes the student to `path` atomically (`values`: parameters to write instead of the
    /// current ones, e.g. the best seen).
    ///
    /// # Errors
    /// File and device errors.
    pub fn save(
        &self,
        path: &Path,
        training: serde_json::Value,
        extra: serde_json::Value,
        values: Option<&[f32]>,
    ) -> Result<()> {
        let mut meta = Meta::new(STUDENT_KIND, &self.task, self.seed);
        meta.model = serde_json::to_value(&self.net.cfg).expect("config serialises");
        meta.normalization = serde_json::to_value(&self.norm).expect("statistics serialise");
        meta.training = training;
        meta.extra = extra;
        io::save(path, &meta, &self.store, values)
    }

    /// Loads a student checkpoint onto `device`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for a file that is not a student or does not match its own
    /// configuration; file and device errors.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let ck = io::load(path, &[STUDENT_KIND])?;
        Self::from_checkpoint(&ck, path, device)
    }

    /// Builds a student from a loaded checkpoint.
    ///
    /// # Errors
    /// As [`Student::load`].
    pub fn from_checkpoint(ck: &Checkpoint, path: &Path, device: &Device) -> Result<Self> {
        let bad = |msg: String| Error::Checkpoint { path: path.display().to_string(), msg };
        let cfg: StudentConfig =
            serde_json::from_value(ck.meta.model.clone()).map_err(|e| bad(format!("student configuration: {e}")))?;
        let norm: Normalization = serde_json::from_value(ck.meta.normalization.clone())
            .map_err(|e| bad(format!("normalization statistics: {e}")))?;
        norm.validate(cfg.obs_dim, cfg.act_dim).map_err(|e| bad(e.to_string()))?;
        let mut pb = ParamBuilder::new();
        let net = StudentNet::new(&mut pb, cfg).map_err(|e| bad(e.to_string()))?;
        let store = pb.build(device, ck.meta.seed)?;
        ck.load_into(path, &store)?;
        Ok(Student { net, store, norm, task: ck.meta.task.clone(), seed: ck.meta.seed })
    }
}
