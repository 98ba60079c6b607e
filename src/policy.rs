//! The embedded policy: load a checkpoint, feed observations one at a time, get actions.
//!
//! ```no_run
//! let mut policy = vdd::Policy::load("student.safetensors".as_ref())?;
//! policy.reset();
//! let obs = [0.525, -0.28, 0.525, -0.28];
//! let action: [f64; 2] = policy.act(&obs)?.try_into().unwrap();
//! # Ok::<(), vdd::Error>(())
//! ```
//!
//! A student runs on the CPU through [`FastStudent`] — no GPU driver needed, and no
//! allocation per call after the first. The policy keeps the last `T` observations itself
//! (the student's window) and acts as the reference does: it samples an expert from the gating
//! and returns that expert's mean. A teacher checkpoint also loads (for comparisons); it samples
//! with its default sampler through the tensor engine, which allocates.

use crate::cpu::rng::HostRng;
use crate::device::Device;
use crate::diffusion::Teacher;
use crate::error::{Error, Result};
use crate::io;
use crate::moe::{FastStudent, Student, STUDENT_KIND};
use std::path::Path;

enum Inner {
    Student { fast: FastStudent, rng: HostRng, greedy: bool },
    Teacher { teacher: Box<Teacher>, seed: u64 },
}

/// A loaded policy with its observation window (see the module docs).
pub struct Policy {
    inner: Inner,
    obs_dim: usize,
    act_dim: usize,
    window: usize,
    /// The last `window` observations, oldest first (`len` of them valid).
    hist: Vec<f64>,
    len: usize,
    out: Vec<f64>,
}

impl Policy {
    /// Loads a student (or teacher) checkpoint onto the CPU.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Checkpoint`] for unreadable or mismatched files.
    pub fn load(path: &Path) -> Result<Self> {
        let ck = io::load(path, &[])?;
        if ck.meta.kind == STUDENT_KIND {
            let s = Student::from_checkpoint(&ck, path, &Device::Cpu)?;
            Self::from_student(&s, ck.meta.seed)
        } else {
            let t = Teacher::from_checkpoint(&ck, path, &Device::Cpu)?;
            Ok(Self::from_teacher(t, ck.meta.seed))
        }
    }

    /// A policy acting with `student` (expert choices seeded by `seed`).
    ///
    /// # Errors
    /// Read-back errors.
    pub fn from_student(student: &Student, seed: u64) -> Result<Self> {
        let c = student.cfg();
        let (obs_dim, act_dim, window) = (c.obs_dim, c.act_dim, c.window);
        let fast = FastStudent::new(student)?;
        Ok(Self::with(Inner::Student { fast, rng: HostRng::new(seed, 0xac7), greedy: false }, obs_dim, act_dim, window))
    }

    /// A policy sampling `teacher` with its default sampler.
    pub fn from_teacher(teacher: Teacher, seed: u64) -> Self {
        let (o, a, w) = (teacher.state_dim, teacher.act_dim, teacher.window());
        Self::with(Inner::Teacher { teacher: Box::new(teacher), seed }, o, a, w)
    }

    fn with(inner: Inner, obs_dim: usize, act_dim: usize, window: usize) -> Self {
        Policy { inner, obs_dim, act_dim, window, hist: vec![0.0; window * obs_dim], len: 0, out: vec![0.0; act_dim] }
    }

    /// Take the most probable expert instead of sampling one (students).
    pub fn set_greedy(&mut self, on: bool) {
        if let Inner::Student { greedy, .. } = &mut self.inner {
            *greedy = on;
        }
    }

    /// Observation size.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Action size.
    pub fn act_dim(&self) -> usize {
        self.act_dim
    }

    /// Observation window T.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Forgets the observation window (start of an episode).
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Pushes `obs` into the window and returns the action (raw units).
    ///
    /// # Errors
    /// [`Error::Shape`] for an observation of the wrong size; [`Error::InvalidArgument`] for a
    /// non-finite one.
    pub fn act(&mut self, obs: &[f64]) -> Result<&[f64]> {
        let d = self.obs_dim;
        if obs.len() != d {
            return Err(Error::shape("policy", format!("observation of {} values, the policy takes {d}", obs.len())));
        }
        if obs.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid("policy", "observation holds a non-finite value"));
        }
        if self.len == self.window {
            self.hist.copy_within(d.., 0);
            self.len -= 1;
        }
        self.hist[self.len * d..(self.len + 1) * d].copy_from_slice(obs);
        self.len += 1;
        let t = self.len;
        match &mut self.inner {
            Inner::Student { fast, rng, greedy } => {
                fast.act_into(&self.hist[..t * d], t, *greedy, rng, &mut self.out)?
            }
            Inner::Teacher { teacher, seed } => {
                *seed = seed.wrapping_add(1);
                let w = teacher.sample_windows(&self.hist[..t * d], t, 1, None, None, *seed)?;
                self.out.copy_from_slice(&w[(t - 1) * self.act_dim..]);
            }
        }
        Ok(&self.out)
    }

    /// Actions `[n, act_dim]` for `n` observation windows `[n, t, obs_dim]` at once (batched
    /// control or benchmarks), independent of the internal window.
    ///
    /// # Errors
    /// [`Error::Shape`] for inconsistent lengths.
    pub fn act_batch(&mut self, obs: &[f64], t: usize, out: &mut [f64]) -> Result<()> {
        match &mut self.inner {
            Inner::Student { fast, rng, greedy } => fast.act_into(obs, t, *greedy, rng, out),
            Inner::Teacher { teacher, seed } => {
                *seed = seed.wrapping_add(1);
                let w = teacher.sample_windows(obs, t, 1, None, None, *seed)?;
                let a = self.act_dim;
                if out.len() * t != w.len() {
                    return Err(Error::shape(
                        "policy",
                        format!("output of {} values for {} actions", out.len(), w.len() / (t * a)),
                    ));
                }
                for (o, win) in out.chunks_mut(a).zip(w.chunks(t * a)) {
                    o.copy_from_slice(&win[(t - 1) * a..]);
                }
                Ok(())
            }
        }
    }
}
