//! The Gaussian-mixture student: q(a|s) = Σ_z g_z(s) N(μ_z(s), L_z L_zᵀ).

mod fast;
mod fast_linear;
mod network;
mod student;

pub use fast::FastStudent;
pub use network::{Activation, HeadConfig, StudentConfig, StudentNet, StudentOut};
pub use student::{MeanInit, Mixtures, Student, STUDENT_KIND};
