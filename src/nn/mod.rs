//! Neural-network building blocks on the autodiff tape: parameters, layers, the minGPT
//! transformer, Adam, schedules and EMA.

mod layers;
mod optim;
mod params;
mod transformer;

pub use layers::{LayerNorm, Linear, LinearInit, Mlp, ResidualMlp};
pub use optim::{Adam, AdamConfig, Ema, LinearDecay};
pub use params::{Entry, Init, ParamBuilder, ParamId, ParamStore};
pub use transformer::{Block, CausalSelfAttention, Gpt, GptConfig};
