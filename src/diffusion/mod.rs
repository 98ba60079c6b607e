//! Diffusion teachers (spec §4): BESO/EDM and DDPM, their samplers and scores.

pub mod schedule;
mod teacher;

pub use schedule::{cosine_alpha_bars, sigmas, Edm, SigmaSchedule};
pub use teacher::{merge, Progress, Sampler, Teacher, TeacherConfig, TeacherKind};
