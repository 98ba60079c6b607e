//! Demonstration datasets of Avoiding-2D: the file format and the window data source that
//! teachers train on and students are distilled at.
//!
//! File: a safetensors file with f32 tensors `obs [N, 4]`, `actions [N, 2]`, `lengths [E]`
//! (steps per episode, summing to N) and `paths [E]` (intended path index 0..24), and the
//! `vdd` metadata document with `kind = "demos"` and, in `extra`, the generator's settings
//! (`alpha`, `noise`, `style`, `per_path`, `rejected`).

use super::avoiding::{self as av, Episode};
use super::DistillData;
use crate::cpu::rng::HostRng;
use crate::error::{Error, Result};
use crate::io::{self, Meta, Normalization};
use std::path::Path;

/// The checkpoint kind of a demonstration file.
pub const DEMOS_KIND: &str = "demos";

/// A set of demonstrations and how they were made.
#[derive(Clone, Debug, PartialEq)]
pub struct Demos {
    /// The episodes.
    pub episodes: Vec<Episode>,
    /// Tracking lag of the generator (and of the re-simulation they belong to).
    pub alpha: f64,
    /// Std (metres) of the noise on executed actions (0: the plain paths).
    pub noise: f64,
    /// Path geometry of the demonstrator.
    pub style: av::DemoStyle,
    /// Generator seed.
    pub seed: u64,
    /// Demonstrations per path.
    pub per_path: usize,
    /// Demonstrations rejected (collisions or wrong path) while generating.
    pub rejected: usize,
}

impl Demos {
    /// Generates `per_path` scripted demonstrations of each path (path style and execution
    /// noise as in [`av::scripted_demo`]).
    pub fn scripted(per_path: usize, alpha: f64, noise: f64, style: av::DemoStyle, seed: u64) -> Self {
        let (episodes, rejected) = av::scripted_demos(per_path, alpha, noise, style, seed);
        Demos { episodes, alpha, noise, style, seed, per_path, rejected }
    }

    /// Total steps.
    pub fn steps(&self) -> usize {
        self.episodes.iter().map(|e| e.obs.len()).sum()
    }

    /// The fraction of episodes on each path (the prior of the path KL).
    pub fn path_distribution(&self) -> [f64; av::PATHS] {
        let mut p = [0.0; av::PATHS];
        self.episodes.iter().for_each(|e| p[e.path] += 1.0 / self.episodes.len() as f64);
        p
    }

    /// Mean/std of every observation and action.
    pub fn normalization(&self) -> Normalization {
        let obs: Vec<f64> = self.episodes.iter().flat_map(|e| e.obs.iter().flatten().copied()).collect();
        let act: Vec<f64> = self.episodes.iter().flat_map(|e| e.actions.iter().flatten().copied()).collect();
        Normalization::fit(&obs, av::OBS_DIM, &act, av::ACT_DIM)
    }

    /// Writes the file atomically.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut meta = Meta::new(DEMOS_KIND, "avoiding", self.seed);
        meta.extra = serde_json::json!({ "alpha": self.alpha, "noise": self.noise, "style": self.style, "per_path": self.per_path, "rejected": self.rejected, "generator": "scripted" });
        let n = self.steps();
        let e = self.episodes.len();
        let obs: Vec<f32> = self.episodes.iter().flat_map(|e| e.obs.iter().flatten().map(|&v| v as f32)).collect();
        let act: Vec<f32> = self.episodes.iter().flat_map(|e| e.actions.iter().flatten().map(|&v| v as f32)).collect();
        let lens: Vec<f32> = self.episodes.iter().map(|e| e.obs.len() as f32).collect();
        let paths: Vec<f32> = self.episodes.iter().map(|e| e.path as f32).collect();
        io::save_tensors(
            path,
            &meta,
            &[
                ("obs".into(), vec![n, av::OBS_DIM], obs),
                ("actions".into(), vec![n, av::ACT_DIM], act),
                ("lengths".into(), vec![e], lens),
                ("paths".into(), vec![e], paths),
            ],
        )
    }

    /// Reads and validates a demonstration file.
    ///
    /// # Errors
    /// [`Error::Io`] if unreadable; [`Error::Checkpoint`] naming the problem for a file that is
    /// not a demonstration set, is truncated, lacks a tensor, has mis-shaped tensors, lengths
    /// that do not add up, paths outside 0..24, or non-finite values.
    pub fn load(path: &Path) -> Result<Self> {
        let ck = io::load(path, &[DEMOS_KIND])?;
        let bad = |msg: String| Error::Checkpoint { path: path.display().to_string(), msg };
        let get = |name: &str, cols: Option<usize>| -> Result<(usize, Vec<f32>)> {
            let (shape, v) = ck.tensors.get(name).ok_or_else(|| bad(format!("missing tensor {name}")))?;
            let ok = match cols {
                Some(c) => shape.len() == 2 && shape[1] == c,
                None => shape.len() == 1,
            };
            if !ok {
                return Err(bad(format!(
                    "tensor {name} has shape {shape:?}, expected [n{}]",
                    cols.map(|c| format!(", {c}")).unwrap_or_default()
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(bad(format!("tensor {name} holds non-finite values")));
            }
            Ok((shape[0], v.clone()))
        };
        let (n, obs) = get("obs", Some(av::OBS_DIM))?;
        let (na, act) = get("actions", Some(av::ACT_DIM))?;
        let (e, lens) = get("lengths", None)?;
        let (ep, paths) = get("paths", None)?;
        if na != n || ep != e || e == 0 {
            return Err(bad(format!("{n} observations, {na} actions, {e} lengths and {ep} paths do not match")));
        }
        let total: f64 = lens.iter().map(|&l| f64::from(l)).sum();
        if lens.iter().any(|&l| l < 1.0 || l.fract() != 0.0) || total != n as f64 {
            return Err(bad(format!("episode lengths sum to {total}, not the {n} steps")));
        }
        if paths.iter().any(|&p| !(0.0..av::PATHS as f32).contains(&p) || p.fract() != 0.0) {
            return Err(bad("path indices must be integers in 0..24".into()));
        }
        let extra = &ck.meta.extra;
        let alpha =
            extra.get("alpha").and_then(serde_json::Value::as_f64).ok_or_else(|| bad("metadata lacks alpha".into()))?;
        let noise = extra.get("noise").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
        let style = match extra.get("style") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| bad(format!("demonstration style: {e}")))?,
            None => av::DemoStyle::Spline,
        };
        let per_path = extra.get("per_path").and_then(serde_json::Value::as_u64).unwrap_or(0) as usize;
        let rejected = extra.get("rejected").and_then(serde_json::Value::as_u64).unwrap_or(0) as usize;
        let mut episodes = Vec::with_capacity(e);
        let mut at = 0;
        for (l, p) in lens.iter().zip(&paths) {
            let l = *l as usize;
            let o = (at..at + l).map(|i| std::array::from_fn(|k| f64::from(obs[i * 4 + k]))).collect();
            let a = (at..at + l).map(|i| std::array::from_fn(|k| f64::from(act[i * 2 + k]))).collect();
            episodes.push(Episode { obs: o, actions: a, path: *p as usize });
            at += l;
        }
        Ok(Demos { episodes, alpha, noise, style, seed: ck.meta.seed, per_path, rejected })
    }
}

/// Random observation/action windows of length `T` from the demonstrations, normalised.
pub struct DemoData {
    obs: Vec<f64>,
    actions: Vec<f64>,
    /// Start indices (into the flat step arrays) of every window inside one episode.
    starts: Vec<usize>,
    window: usize,
}

impl DemoData {
    /// Windows of `window` steps of `demos` normalised by `norm`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if no episode is as long as the window.
    pub fn new(demos: &Demos, norm: &Normalization, window: usize) -> Result<Self> {
        let mut obs: Vec<f64> = demos.episodes.iter().flat_map(|e| e.obs.iter().flatten().copied()).collect();
        let mut actions: Vec<f64> = demos.episodes.iter().flat_map(|e| e.actions.iter().flatten().copied()).collect();
        norm.states(&mut obs);
        norm.actions(&mut actions);
        let mut starts = Vec::new();
        let mut at = 0;
        for e in &demos.episodes {
            let l = e.obs.len();
            starts.extend((0..(l + 1).saturating_sub(window)).map(|s| at + s));
            at += l;
        }
        if starts.is_empty() || window == 0 {
            return Err(Error::invalid("demos", format!("no episode has {window} steps")));
        }
        Ok(DemoData { obs, actions, starts, window })
    }

    /// Number of distinct windows.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are none (never: construction fails then).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

impl DistillData for DemoData {
    fn obs_dim(&self) -> usize {
        av::OBS_DIM
    }
    fn act_dim(&self) -> usize {
        av::ACT_DIM
    }
    fn window(&self) -> usize {
        self.window
    }
    fn batch(&mut self, b: usize, rng: &mut HostRng) -> (Vec<f64>, Vec<f64>) {
        let t = self.window;
        let (mut o, mut a) = (Vec::with_capacity(b * t * 4), Vec::with_capacity(b * t * 2));
        for _ in 0..b {
            let s = self.starts[rng.below(self.starts.len())];
            o.extend_from_slice(&self.obs[s * 4..(s + t) * 4]);
            a.extend_from_slice(&self.actions[s * 2..(s + t) * 2]);
        }
        (o, a)
    }
}
