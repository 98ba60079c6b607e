//! Embedding a distilled policy: load a student checkpoint, drive an Avoiding-2D episode with
//! `Policy::act`, and time it. CPU only, no GPU driver needed.
//!
//! ```bash
//! cargo run --release --example embed -- runs/avoiding/student.safetensors
//! cargo run --release --example embed            # an untrained Avoiding-size student (API and timing only)
//! ```

use std::time::Instant;
use vdd::io::Normalization;
use vdd::moe::{MeanInit, Student, StudentConfig};
use vdd::tasks::avoiding::{self as av, Env};
use vdd::{Device, Policy};

fn main() -> vdd::Result<()> {
    let mut policy = match std::env::args().nth(1) {
        Some(path) => Policy::load(path.as_ref())?,
        None => {
            println!("no checkpoint given: using an untrained Avoiding-size student (expect a failed episode)");
            let s = Student::new(
                StudentConfig::avoiding(),
                Normalization::identity(4, 2),
                &MeanInit::Uniform(0.01),
                "avoiding",
                &Device::Cpu,
                0,
            )?;
            Policy::from_student(&s, 0)?
        }
    };
    // One episode: observations in, actions out; the policy keeps its own window.
    policy.reset();
    let mut env = Env::new(av::DEFAULT_ALPHA);
    let mut times = Vec::new();
    while !env.done() {
        let obs = env.obs();
        let start = Instant::now();
        let a = policy.act(&obs)?;
        times.push(start.elapsed().as_secs_f64() * 1e6);
        env.step([a[0], a[1]]);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "episode: {} after {} steps (path code {:#011b}); Policy::act median {:.1} µs, p90 {:.1} µs",
        if env.success {
            "success"
        } else if env.collided {
            "collision"
        } else {
            "time-out"
        },
        env.steps,
        env.code,
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
    Ok(())
}
