//! Basic layers: Linear, LayerNorm, MLP and residual MLP.

use super::{Init, ParamBuilder, ParamId, ParamStore};
use crate::autodiff::{Tape, Var};
use crate::cpu::elementwise::Unary;
use crate::cpu::mlp_chain::{ChainPlan, Slot};
use crate::error::Result;

/// `y = x·W + b` with `W: [in, out]`.
#[derive(Clone, Debug)]
pub struct Linear {
    /// Weight `[in, out]`.
    pub w: ParamId,
    /// Bias `[out]`, if any.
    pub b: Option<ParamId>,
    /// Input features.
    pub fan_in: usize,
    /// Output features.
    pub fan_out: usize,
}

/// How a [`Linear`] is initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinearInit {
    /// PyTorch's default: weight and bias uniform in `±1/√fan_in`.
    Torch,
    /// Weight normal with this std, bias zero (minGPT: 0.02).
    Normal(f32),
    /// Orthogonal weight with this gain, bias zero.
    Orthogonal(f32),
    /// Zero weight; bias uniform in `±bound` (VDD's mean-head output layer).
    ZeroWeightUniformBias(f32),
}

impl Linear {
    /// Declares a linear layer `name` with bias.
    pub fn new(pb: &mut ParamBuilder, name: &str, fan_in: usize, fan_out: usize, init: LinearInit) -> Self {
        Self::with_bias(pb, name, fan_in, fan_out, init, true)
    }

    /// Declares a linear layer, optionally without bias.
    pub fn with_bias(
        pb: &mut ParamBuilder,
        name: &str,
        fan_in: usize,
        fan_out: usize,
        init: LinearInit,
        bias: bool,
    ) -> Self {
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let (wi, bi) = match init {
            LinearInit::Torch => (Init::Uniform(bound), Init::Uniform(bound)),
            LinearInit::Normal(s) => (Init::Normal(s), Init::Zeros),
            LinearInit::Orthogonal(g) => (Init::Orthogonal(g), Init::Zeros),
            LinearInit::ZeroWeightUniformBias(b) => (Init::Zeros, Init::Uniform(b)),
        };
        pb.scope(name, |pb| Linear {
            w: pb.add("w", &[fan_in, fan_out], wi),
            b: bias.then(|| pb.add("b", &[fan_out], bi)),
            fan_in,
            fan_out,
        })
    }

    /// Applies the layer over the last dim of `x`.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        let b = self.b.map(|b| tape.param(b));
        tape.linear(x, &tape.param(self.w), b.as_ref())
    }

    /// `act(layer(x))`, fused into one product when nothing is differentiated
    /// ([`Tape::linear_act`]).
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward_act(&self, tape: &Tape, x: &Var, act: Unary) -> Result<Var> {
        let b = self.b.map(|b| tape.param(b));
        tape.linear_act(x, &tape.param(self.w), b.as_ref(), act)
    }

    /// Appends `act(src·W + b)` to an inference chain over `store`'s flat buffer
    /// ([`crate::tensor::ops::chain_infer`]); returns the output's slot.
    pub fn chain(&self, store: &ParamStore, plan: &mut ChainPlan, src: Slot, act: Option<Unary>) -> Slot {
        let off = |id: ParamId| store.entries()[id.0].offset;
        plan.linear(src, self.fan_out, off(self.w), self.b.map(off), act)
    }
}

/// Affine LayerNorm over the last dim (γ = 1, β = 0 at init).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// Gain `[n]`.
    pub gamma: ParamId,
    /// Shift `[n]`.
    pub beta: ParamId,
    /// Variance epsilon.
    pub eps: f32,
}

impl LayerNorm {
    /// Declares a LayerNorm over `n` features (eps 1e-5, as PyTorch).
    pub fn new(pb: &mut ParamBuilder, name: &str, n: usize) -> Self {
        pb.scope(name, |pb| LayerNorm {
            gamma: pb.add("gamma", &[n], Init::Constant(1.0)),
            beta: pb.add("beta", &[n], Init::Zeros),
            eps: 1e-5,
        })
    }

    /// Normalises `x`.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        tape.layer_norm(x, &tape.param(self.gamma), &tape.param(self.beta), self.eps)
    }
}

/// `Linear(in, h) → act → [Linear(h, h) → act] × (layers − 1) → Linear(h, out)`.
#[derive(Clone, Debug)]
pub struct Mlp {
    /// The linear layers, input to output.
    pub layers: Vec<Linear>,
    /// The activation between them.
    pub act: Unary,
}

impl Mlp {
    /// Declares an MLP with `hidden_layers` hidden layers of width `hidden`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pb: &mut ParamBuilder,
        name: &str,
        fan_in: usize,
        hidden: usize,
        hidden_layers: usize,
        fan_out: usize,
        act: Unary,
        init: LinearInit,
    ) -> Self {
        pb.scope(name, |pb| {
            let mut layers = vec![Linear::new(pb, "in", fan_in, hidden, init)];
            for i in 1..hidden_layers.max(1) {
                layers.push(Linear::new(pb, &format!("hidden{i}"), hidden, hidden, init));
            }
            layers.push(Linear::new(pb, "out", hidden, fan_out, init));
            Mlp { layers, act }
        })
    }

    /// Applies the MLP.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = if i + 1 < self.layers.len() { l.forward_act(tape, &h, self.act)? } else { l.forward(tape, &h)? };
        }
        Ok(h)
    }

    /// Appends the MLP to an inference chain (see [`Linear::chain`]).
    pub fn chain(&self, store: &ParamStore, plan: &mut ChainPlan, src: Slot) -> Slot {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(src, |h, (i, l)| l.chain(store, plan, h, (i < last).then_some(self.act)))
    }
}

/// `Linear(in, h)`, then pre-activation residual blocks `x + L2(act(L1(act(x))))`, then
/// `Linear(h, out)` (VDD's ResidualMLPNetwork; no normalisation, no dropout).
#[derive(Clone, Debug)]
pub struct ResidualMlp {
    /// Input projection.
    pub input: Linear,
    /// `(L1, L2)` of each residual block.
    pub blocks: Vec<(Linear, Linear)>,
    /// Output projection.
    pub output: Linear,
    /// The activation.
    pub act: Unary,
}

impl ResidualMlp {
    /// Declares a residual MLP with `hidden_layers / 2` blocks (at least one) of width `hidden`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pb: &mut ParamBuilder,
        name: &str,
        fan_in: usize,
        hidden: usize,
        hidden_layers: usize,
        fan_out: usize,
        act: Unary,
        init: LinearInit,
    ) -> Self {
        pb.scope(name, |pb| {
            let input = Linear::new(pb, "in", fan_in, hidden, init);
            let blocks = (0..(hidden_layers / 2).max(1))
                .map(|i| {
                    pb.scope(&format!("block{i}"), |pb| {
                        (Linear::new(pb, "l1", hidden, hidden, init), Linear::new(pb, "l2", hidden, hidden, init))
                    })
                })
                .collect();
            let output = Linear::new(pb, "out", hidden, fan_out, init);
            ResidualMlp { input, blocks, output, act }
        })
    }

    /// Applies the network.
    ///
    /// # Errors
    /// Shape errors.
    pub fn forward(&self, tape: &Tape, x: &Var) -> Result<Var> {
        let mut h = self.input.forward(tape, x)?;
        for (l1, l2) in &self.blocks {
            let a = tape.unary(&h, self.act)?;
            let a = l1.forward_act(tape, &a, self.act)?;
            let a = l2.forward(tape, &a)?;
            h = tape.add(&h, &a)?;
        }
        self.output.forward(tape, &h)
    }

    /// Appends the network to an inference chain (see [`Linear::chain`]).
    pub fn chain(&self, store: &ParamStore, plan: &mut ChainPlan, src: Slot) -> Slot {
        let mut h = self.input.chain(store, plan, src, None);
        for (l1, l2) in &self.blocks {
            let a = plan.map(h, self.act);
            let a = l1.chain(store, plan, a, Some(self.act));
            let a = l2.chain(store, plan, a, None);
            h = plan.add(h, a);
        }
        self.output.chain(store, plan, h, None)
    }
}
