//! Gaussian-mixture targets: sampling, exact log-density, exact (σ-smoothed / VP) scores, and
//! the `gmm:<file.toml>` format.

use crate::cpu::gaussian::{cholesky, mixture_score, MixtureShape};
use crate::cpu::rng::HostRng;
use crate::error::{Error, Result};

/// A mixture `Σ_k w_k N(m_k, S_k)` in `d` dims.
#[derive(Clone, Debug, PartialEq)]
pub struct Gmm {
    weights: Vec<f64>,
    means: Vec<f64>,
    covs: Vec<f64>,
    chols: Vec<f64>,
    dim: usize,
}

/// The `gmm:` TOML file: `weights`, `means`, and `covs` or isotropic `stds`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GmmFile {
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    covs: Option<Vec<Vec<Vec<f64>>>>,
    stds: Option<Vec<f64>>,
}

impl Gmm {
    /// A mixture from weights, means (`K` vectors of `d`) and covariances (`K` row-major
    /// `d×d` matrices).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the problem: no components, inconsistent sizes,
    /// negative weights or weights not summing to 1 (±1e-6), non-finite values, a covariance
    /// that is not symmetric positive definite, or more than 16 dimensions.
    pub fn new(weights: Vec<f64>, means: Vec<Vec<f64>>, covs: Vec<Vec<f64>>) -> Result<Self> {
        let bad = |m: String| Err(Error::invalid("gmm", m));
        let k = weights.len();
        if k == 0 {
            return bad("a mixture needs at least one component".into());
        }
        if means.len() != k || covs.len() != k {
            return bad(format!("{k} weights but {} means and {} covariances", means.len(), covs.len()));
        }
        let dim = means[0].len();
        if dim == 0 || dim > 16 {
            return bad(format!("dimension {dim} (supported: 1..=16)"));
        }
        if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite() || **w < 0.0) {
            return bad(format!("weight {i} is {w}; weights must be non-negative"));
        }
        let total: f64 = weights.iter().sum();
        if (total - 1.0).abs() > 1e-6 {
            return bad(format!("weights sum to {total}, not 1"));
        }
        let mut chols = Vec::with_capacity(k * dim * dim);
        for (i, (m, c)) in means.iter().zip(&covs).enumerate() {
            if m.len() != dim || c.len() != dim * dim {
                return bad(format!(
                    "component {i}: mean of {} and covariance of {} values for dimension {dim}",
                    m.len(),
                    c.len()
                ));
            }
            if m.iter().chain(c).any(|v| !v.is_finite()) {
                return bad(format!("component {i} has a non-finite value"));
            }
            for r in 0..dim {
                for s in 0..r {
                    if (c[r * dim + s] - c[s * dim + r]).abs() > 1e-9 * (1.0 + c[r * dim + s].abs()) {
                        return bad(format!("covariance {i} is not symmetric"));
                    }
                }
            }
            let mut l = c.clone();
            if !cholesky(&mut l, dim) {
                return bad(format!("covariance {i} is not positive definite"));
            }
            chols.extend(l);
        }
        Ok(Gmm { weights, means: means.concat(), covs: covs.concat(), chols, dim })
    }

    /// Isotropic components with the given standard deviations.
    ///
    /// # Errors
    /// As [`Gmm::new`]; non-positive standard deviations.
    pub fn isotropic(weights: Vec<f64>, means: Vec<Vec<f64>>, stds: &[f64]) -> Result<Self> {
        let dim = means.first().map_or(0, Vec::len);
        if stds.len() != weights.len() {
            return Err(Error::invalid("gmm", format!("{} weights but {} stds", weights.len(), stds.len())));
        }
        let covs = stds
            .iter()
            .map(|&s| (0..dim * dim).map(|e| if e / dim == e % dim { s * s } else { 0.0 }).collect())
            .collect();
        Self::new(weights, means, covs)
    }

    /// Parses the `gmm:` TOML format (see the README).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for TOML errors or an invalid mixture.
    pub fn from_toml(text: &str) -> Result<Self> {
        let f: GmmFile = toml::from_str(text).map_err(|e| Error::invalid("gmm file", e.to_string()))?;
        match (f.covs, f.stds) {
            (Some(c), None) => Self::new(f.weights, f.means, c.into_iter().map(|m| m.concat()).collect()),
            (None, Some(s)) => Self::isotropic(f.weights, f.means, &s),
            _ => Err(Error::invalid("gmm file", "give exactly one of `covs` and `stds`")),
        }
    }

    /// Reads a `gmm:` TOML file.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read; as [`Gmm::from_toml`].
    pub fn from_file(path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io { path: path.to_string(), source: e })?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::InvalidArgument { msg, .. } => Error::invalid("gmm file", format!("{path}: {msg}")),
            other => other,
        })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of components.
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// Component weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Component means, flat `[K, d]`.
    pub fn means(&self) -> &[f64] {
        &self.means
    }

    /// Component covariances, flat `[K, d, d]`.
    pub fn covs(&self) -> &[f64] {
        &self.covs
    }

    /// Mean of component `k`.
    pub fn mean(&self, k: usize) -> &[f64] {
        &self.means[k * self.dim..][..self.dim]
    }

    /// Covariance of component `k` (row-major).
    pub fn cov(&self, k: usize) -> &[f64] {
        &self.covs[k * self.dim * self.dim..][..self.dim * self.dim]
    }

    /// `n` samples, flat `[n, d]`.
    pub fn sample(&self, n: usize, rng: &mut HostRng) -> Vec<f64> {
        let d = self.dim;
        let mut out = Vec::with_capacity(n * d);
        let mut z = vec![0.0; d];
        for _ in 0..n {
            let k = rng.categorical(&self.weights);
            z.iter_mut().for_each(|v| *v = rng.normal());
            let l = &self.chols[k * d * d..][..d * d];
            for i in 0..d {
                out.push(self.means[k * d + i] + (0..=i).map(|j| l[i * d + j] * z[j]).sum::<f64>());
            }
        }
        out
    }

    /// The mixture convolved with `N(0, σ²I)` (what a VE teacher at level σ learns).
    pub fn smoothed(&self, sigma: f64) -> Gmm {
        let d = self.dim;
        let covs = (0..self.components())
            .map(|k| {
                (0..d * d)
                    .map(|e| self.covs[k * d * d + e] + if e / d == e % d { sigma * sigma } else { 0.0 })
                    .collect()
            })
            .collect();
        let means = self.means.chunks(d).map(<[f64]>::to_vec).collect();
        Gmm::new(self.weights.clone(), means, covs).expect("adding σ²I keeps a valid mixture valid")
    }

    fn eval(&self, x: &[f64], cm: f64, v: f64) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim;
        let q = x.len() / d;
        let s = MixtureShape { groups: 1, components: self.components(), dim: d, queries: q };
        let log_w: Vec<f64> = self.weights.iter().map(|w| w.ln()).collect();
        let noise: Vec<f64> = (0..q).flat_map(|_| [cm, v]).collect();
        let (mut score, mut log_p) = (vec![0.0; q * d], vec![0.0; q]);
        mixture_score(&s, &self.means, &self.covs, &log_w, x, &noise, &mut score, &mut log_p);
        (score, log_p)
    }

    /// Exact `log p(x)` of points `x: [n, d]`.
    pub fn log_prob(&self, x: &[f64]) -> Vec<f64> {
        self.eval(x, 1.0, 0.0).1
    }

    /// Exact score `∇ log p_σ(x)` of the σ-smoothed mixture (VE/EDM; σ = 0: the mixture).
    pub fn score_ve(&self, x: &[f64], sigma: f64) -> Vec<f64> {
        self.eval(x, 1.0, sigma * sigma).0
    }

    /// Exact score of the VP marginal `p_t = Σ w_k N(√ᾱ m_k, ᾱ S_k + (1 − ᾱ) I)` at `x_t`.
    pub fn score_vp(&self, x: &[f64], alpha_bar: f64) -> Vec<f64> {
        self.eval(x, alpha_bar.sqrt(), 1.0 - alpha_bar).0
    }
}
