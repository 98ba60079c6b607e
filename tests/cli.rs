//! The `vdd` command line end to end on small settings: teacher → distill → eval / sample /
//! plot / inspect, the demo, `--json` last lines, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

fn vdd(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vdd")).args(args).output().expect("runs the vdd binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = vdd(args);
    assert!(success, "vdd {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn last_json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().expect("some output")).expect("the last line is JSON")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vdd-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn every_command_has_help() {
    for c in ["demo", "teacher", "distill", "eval", "sample", "plot", "inspect", "info"] {
        let out = ok(&[c, "--help"]);
        assert!(out.contains("Usage"), "{c} --help: {out}");
    }
}

#[test]
fn teacher_distill_eval_sample_plot_inspect_pipeline() {
    let d = tmp("pipeline");
    let (t, s) = (d.join("t.safetensors"), d.join("s.safetensors"));
    let j = last_json(&ok(&["teacher", "--task", "aniso", "--steps", "300", "--out", p(&t), "--json"]));
    assert_eq!(j["kind"], "beso");
    let j =
        last_json(&ok(&["distill", "--task", "aniso", "--teacher", p(&t), "--iters", "60", "--out", p(&s), "--json"]));
    for key in ["nll", "reverse_kl", "mmd2", "w2", "modes_covered", "modes_total", "mode_entropy", "seed", "device"] {
        assert!(j.get(key).is_some(), "distill --json lacks {key}: {j}");
    }
    let e = last_json(&ok(&["eval", "--policy", p(&s), "--json"]));
    assert!(e["eval"]["nll"].as_f64().unwrap().is_finite());
    let csv = d.join("a.csv");
    ok(&["sample", "--policy", p(&s), "--n", "50", "--out", p(&csv)]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 51, "header + 50 rows");
    let png = d.join("f.png");
    ok(&["plot", "--policy", p(&s), "--out", p(&png)]);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    // inspect gives a mixture whose likelihood anyone can recompute.
    let m = last_json(&ok(&["inspect", "--policy", p(&s), "--state", "1,1", "--json"]));
    let w: Vec<f64> = serde_json::from_value(m["weights"].clone()).unwrap();
    let mu: Vec<Vec<f64>> = serde_json::from_value(m["means"].clone()).unwrap();
    let cov: Vec<Vec<Vec<f64>>> = serde_json::from_value(m["covs"].clone()).unwrap();
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    let x = [0.3, 1.7];
    let q: f64 = (0..w.len())
        .map(|k| {
            let c = &cov[k];
            let det = c[0][0] * c[1][1] - c[0][1] * c[1][0];
            assert!(det > 0.0 && c[0][0] > 0.0 && (c[0][1] - c[1][0]).abs() < 1e-9, "covariance {k} is SPD");
            let (dx, dy) = (x[0] - mu[k][0], x[1] - mu[k][1]);
            let quad = (c[1][1] * dx * dx - 2.0 * c[0][1] * dx * dy + c[0][0] * dy * dy) / det;
            w[k] * (-0.5 * quad).exp() / (2.0 * std::f64::consts::PI * det.sqrt())
        })
        .sum();
    let student = vdd::moe::Student::load(&s, &vdd::Device::Cpu).unwrap();
    let lq = student.mixtures(&[1.0, 1.0], 1).unwrap().log_prob(&x)[0];
    assert!((q.ln() - lq).abs() < 1e-5, "inspect's mixture gives log q = {}, the student {lq}", q.ln());
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn demo_runs_small_and_writes_its_report() {
    let d = tmp("demo");
    let out = ok(&["demo", "--out", p(&d), "--teacher-steps", "200", "--iters", "40", "--json"]);
    assert!(out.contains("| modes covered (of 8) |"), "{out}");
    let j = last_json(&out);
    assert_eq!(j["ms_per_action"].as_array().unwrap().len(), 2);
    for f in ["teacher.safetensors", "student.safetensors", "teacher.png", "student.png", "report.json"] {
        assert!(d.join(f).exists(), "demo did not write {f}");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_input_gives_clear_errors() {
    let d = tmp("bad");
    let (success, _, err) = vdd(&["distill", "--task", "nope", "--out", p(&d.join("x"))]);
    assert!(!success && err.contains("unknown task"), "{err}");
    let gmm = d.join("g.toml");
    std::fs::write(&gmm, "weights = [0.5, 0.6]\nmeans = [[0.0, 0.0], [1.0, 1.0]]\nstds = [1.0, 1.0]\n").unwrap();
    let (success, _, err) = vdd(&["distill", "--task", &format!("gmm:{}", p(&gmm)), "--out", p(&d.join("x"))]);
    assert!(!success && err.contains("sum to"), "{err}");
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, "experts = 0\n").unwrap();
    let (success, _, err) = vdd(&["distill", "--task", "ring", "--config", p(&cfg), "--out", p(&d.join("x"))]);
    assert!(!success && err.contains("experts"), "{err}");
    std::fs::write(&cfg, "expert = 4\n").unwrap();
    let (success, _, err) = vdd(&["distill", "--task", "ring", "--config", p(&cfg), "--out", p(&d.join("x"))]);
    assert!(!success && err.contains("unknown field"), "{err}");
    std::fs::write(&cfg, "t_power = 0.5\n").unwrap();
    let (success, _, err) =
        vdd(&["teacher", "--task", "ring", "--kind", "ddpm", "--config", p(&cfg), "--out", p(&d.join("x"))]);
    assert!(!success && err.contains("t_power"), "{err}");
    let junk = d.join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let (success, _, err) = vdd(&["eval", "--policy", p(&junk)]);
    assert!(!success && err.contains("truncated or corrupt"), "{err}");
    let (success, _, err) = vdd(&["distill", "--task", "ring", "--teacher", p(&junk), "--out", p(&d.join("x"))]);
    assert!(!success && err.contains("junk.safetensors"), "{err}");
    std::fs::remove_dir_all(&d).ok();
}
