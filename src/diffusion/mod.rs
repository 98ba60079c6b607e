//! Diffusion teachers (spec §4): BESO/EDM and DDPM, their networks, samplers and scores.

mod config;
mod denoiser;
pub mod schedule;
mod teacher;

pub use config::{merge, Sampler, TeacherConfig, TeacherKind};
pub use denoiser::{Denoiser, DenoiserConfig, DiffusionGpt};
pub use schedule::{cosine_alpha_bars, sigmas, Edm, SigmaSchedule};
pub use teacher::{Progress, Teacher};
