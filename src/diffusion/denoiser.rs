//! The teachers' networks `F(s, c_in·x, noise feature)`: a residual MLP on
//! `[state, scaled action, feature]` for single-state tasks, and BESO's `DiffusionGPT` for
//! observation windows (spec §4.1).

use crate::autodiff::{Tape, Var};
use crate::error::{Error, Result};
use crate::moe::Activation;
use crate::nn::{Gpt, GptConfig, Linear, LinearInit, ParamBuilder, ResidualMlp};
use serde::{Deserialize, Serialize};

/// Which network a teacher uses.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum DenoiserConfig {
    /// Residual MLP (Linear, `layers / 2` pre-activation blocks, Linear) on
    /// `[state, c_in·x, feature]`; window 1.
    ResidualMlp {
        /// Hidden width.
        hidden: usize,
        /// Hidden layers (two per residual block).
        layers: usize,
        /// Activation.
        activation: Activation,
    },
    /// DiffusionGPT: tokens `[noise token = Linear(1, E)(feature), (state, action) pairs]`, a
    /// state and its action token sharing one learned position, a causal minGPT, and
    /// `Linear(E, act_dim)` at the action positions.
    Gpt {
        /// The transformer (`max_tokens` = the window T).
        gpt: GptConfig,
    },
}

impl DenoiserConfig {
    /// The observation window the network takes.
    pub fn window(&self) -> usize {
        match self {
            DenoiserConfig::ResidualMlp { .. } => 1,
            DenoiserConfig::Gpt { gpt } => gpt.max_tokens,
        }
    }
}

/// DiffusionGPT (see [`DenoiserConfig::Gpt`]).
pub struct DiffusionGpt {
    noise_tok: Linear,
    state_tok: Linear,
    action_tok: Linear,
    gpt: Gpt,
    out: Linear,
}

/// A teacher's network.
pub enum Denoiser {
    /// Residual MLP, window 1.
    Mlp(ResidualMlp),
    /// DiffusionGPT.
    Gpt(DiffusionGpt),
}

impl Denoiser {
    /// Declares the network for `sd`-dimensional states and `ad`-dimensional actions.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for inconsistent sizes.
    pub fn new(pb: &mut ParamBuilder, cfg: &DenoiserConfig, sd: usize, ad: usize) -> Result<Self> {
        Ok(match *cfg {
            DenoiserConfig::ResidualMlp { hidden, layers, activation } => {
                if hidden == 0 {
                    return Err(Error::invalid("denoiser", "hidden width must be positive"));
                }
                let act = activation.unary();
                Denoiser::Mlp(ResidualMlp::new(pb, "denoiser", sd + ad + 1, hidden, layers, ad, act, LinearInit::Torch))
            }
            DenoiserConfig::Gpt { gpt } => pb.scope("denoiser", |pb| -> Result<Denoiser> {
                let init = LinearInit::Normal(0.02);
                Ok(Denoiser::Gpt(DiffusionGpt {
                    noise_tok: Linear::new(pb, "noise_tok", 1, gpt.width, init),
                    state_tok: Linear::new(pb, "state_tok", sd, gpt.width, init),
                    action_tok: Linear::new(pb, "action_tok", ad, gpt.width, init),
                    gpt: Gpt::new(pb, "gpt", gpt)?,
                    out: Linear::new(pb, "out", gpt.width, ad, init),
                }))
            })?,
        })
    }

    /// `F` for states `[N, t, sd]`, scaled noisy actions `[N, t, ad]` and one noise feature per
    /// sequence `[N, 1]` → `[N, t, ad]` (t ≤ the window; the MLP takes t = 1).
    ///
    /// # Errors
    /// [`Error::Shape`] for inconsistent shapes.
    pub fn forward(&self, tape: &Tape, states: &Var, xs: &Var, feat: &Var) -> Result<Var> {
        let (n, t) = (states.shape()[0], states.shape()[1]);
        if xs.shape()[..2] != [n, t] || feat.shape() != [n, 1] {
            return Err(Error::shape(
                "denoiser",
                format!("states {:?}, actions {:?}, feature {:?}", states.shape(), xs.shape(), feat.shape()),
            ));
        }
        let ad = xs.shape()[2];
        match self {
            Denoiser::Mlp(m) => {
                if t != 1 {
                    return Err(Error::shape(
                        "denoiser",
                        format!("the MLP denoiser takes single states, not windows of {t}"),
                    ));
                }
                let sd = states.shape()[2];
                let inp = tape.concat(&[&tape.reshape(states, &[n, sd])?, &tape.reshape(xs, &[n, ad])?, feat], 1)?;
                tape.reshape(&m.forward(tape, &inp)?, &[n, 1, ad])
            }
            Denoiser::Gpt(g) => {
                let e = g.gpt.cfg.width;
                let pos = g.gpt.positions(tape, t)?;
                let s = tape.add(&g.state_tok.forward(tape, states)?, &pos)?;
                let a = tape.add(&g.action_tok.forward(tape, xs)?, &pos)?;
                // [N, t, 2E] → [N, 2t, E]: s₁, a₁, s₂, a₂, …
                let sa = tape.reshape(&tape.concat(&[&s, &a], 2)?, &[n, 2 * t, e])?;
                let nt = tape.reshape(&g.noise_tok.forward(tape, feat)?, &[n, 1, e])?;
                let h = g.gpt.forward_embedded(tape, &tape.concat(&[&nt, &sa], 1)?)?;
                let h = tape.reshape(&tape.slice(&h, 1, 1, 1 + 2 * t)?, &[n, t, 2 * e])?;
                g.out.forward(tape, &tape.slice(&h, 2, e, 2 * e)?)
            }
        }
    }
}
