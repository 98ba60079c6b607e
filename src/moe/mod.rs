//! The Gaussian-mixture student: q(a|s) = Σ_z g_z(s) N(μ_z(s), L_z L_zᵀ).

mod network;

pub use network::{Activation, HeadConfig, StudentConfig, StudentNet, StudentOut};
