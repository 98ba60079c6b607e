//! Avoiding-2D: geometry and path-code logic, the tracking model, and the scripted
//! demonstration generator.
use vdd::cpu::rng::HostRng;
use vdd::tasks::avoiding::{self as av, Env};

#[test]
fn path_codes_round_trip_for_all_24_paths() {
    let codes: std::collections::BTreeSet<u32> = (0..av::PATHS).map(av::path_code).collect();
    assert_eq!(codes.len(), 24);
    for p in 0..av::PATHS {
        assert_eq!(av::path_index(av::path_code(p)), Some(p));
    }
    assert_eq!(av::path_index(0b11), None, "two L1 bits are not a path");
}

#[test]
fn straight_up_hits_the_first_obstacle_and_a_lane_succeeds() {
    let mut e = Env::new(1.0);
    // x = 0.525 runs into l1_obs at (0.5, −0.1) (threshold 0.04).
    while !e.done() {
        e.step([0.0, 0.008]);
    }
    assert!(e.collided && !e.success, "{e:?}");
    // Sweeping across an obstacle in one long step is caught by the swept test.
    assert!(av::collides([0.45, -0.1], [0.55, -0.1]));
    assert!(!av::collides([0.40, -0.2], [0.40, 0.0]));
}

#[test]
fn the_step_limit_ends_an_episode() {
    let mut e = Env::new(0.5);
    while !e.done() {
        e.step([0.0, 0.0]);
    }
    assert_eq!(e.steps, av::MAX_STEPS);
    assert!(!e.success && !e.collided);
}

#[test]
fn scripted_demos_cover_all_24_paths_without_collisions() {
    for style in [av::DemoStyle::Spline, av::DemoStyle::Lanes, av::DemoStyle::Turns] {
        let (eps, rejected) = av::scripted_demos(4, av::DEFAULT_ALPHA, 0.0, style, 0);
        assert_eq!(eps.len(), 96);
        let paths: std::collections::BTreeSet<usize> = eps.iter().map(|e| e.path).collect();
        assert_eq!(paths.len(), 24);
        let lens: Vec<usize> = eps.iter().map(|e| e.obs.len()).collect();
        let (min, max) = (*lens.iter().min().unwrap(), *lens.iter().max().unwrap());
        let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
        eprintln!("{style:?}: lengths {min}..{max}, mean {mean:.1}, rejected {rejected}");
        assert!(min > 60 && max < 220 && (80.0..170.0).contains(&mean), "{style:?}: lengths {min}..{max}, mean {mean}");
        for e in &eps {
            // Replaying the actions reproduces a successful episode on the intended path.
            let mut env = Env::new(av::DEFAULT_ALPHA);
            for (o, a) in e.obs.iter().zip(&e.actions) {
                assert_eq!(*o, env.obs());
                assert!((a[0] * a[0] + a[1] * a[1]).sqrt() < 0.0095, "steps stay at gamepad speed");
                env.step(*a);
            }
            assert!(env.success && !env.collided);
            assert_eq!(av::path_index(env.code), Some(e.path));
        }
    }
    let mut rng = HostRng::new(1, 1);
    assert!((0..20).filter_map(|_| av::scripted_demo(5, 0.5, 0.0, av::DemoStyle::Spline, &mut rng)).count() >= 10);
}

#[test]
fn path_entropy_and_kl_have_their_known_values() {
    let uniform = [1.0 / 24.0; 24];
    let all: Vec<u32> = (0..24).map(av::path_code).collect();
    let (h, kl) = av::path_entropy_kl(&all, &uniform);
    assert!((h - 1.0).abs() < 1e-12 && kl.abs() < 1e-9);
    let one = vec![av::path_code(3); 10];
    let (h, kl) = av::path_entropy_kl(&one, &uniform);
    assert!(h.abs() < 1e-12 && (kl - 24f64.ln()).abs() < 1e-9);
}

#[test]
fn demo_files_round_trip_and_bad_ones_are_refused() {
    use vdd::tasks::demos::Demos;
    let dir = std::env::temp_dir().join(format!("vdd-demos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("d.safetensors");
    let d = Demos::scripted(1, 0.5, 0.0, vdd::tasks::avoiding::DemoStyle::Lanes, 3);
    d.save(&path).unwrap();
    let back = Demos::load(&path).unwrap();
    assert_eq!(back.episodes.len(), 24);
    assert_eq!(back.alpha, 0.5);
    for (a, b) in d.episodes.iter().zip(&back.episodes) {
        assert_eq!(a.path, b.path);
        assert_eq!(a.obs.len(), b.obs.len());
        assert!((a.obs[3][1] - b.obs[3][1]).abs() < 1e-6, "f32 round trip");
    }
    // Truncated.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let e = Demos::load(&path).unwrap_err().to_string();
    assert!(e.contains("truncated or corrupt"), "{e}");
    // Mis-shaped: observations of 3 values.
    let mut meta = vdd::io::Meta::new("demos", "avoiding", 0);
    meta.extra = serde_json::json!({ "alpha": 0.5 });
    let t = |n: &str, s: Vec<usize>| (n.to_string(), s.clone(), vec![0.5f32; s.iter().product()]);
    vdd::io::save_tensors(
        &path,
        &meta,
        &[t("obs", vec![4, 3]), t("actions", vec![4, 2]), t("lengths", vec![1]), t("paths", vec![1])],
    )
    .unwrap();
    let e = Demos::load(&path).unwrap_err().to_string();
    assert!(e.contains("obs") && e.contains("[4, 3]"), "{e}");
    // Lengths that do not add up.
    let lens = ("lengths".to_string(), vec![1], vec![3.0f32]);
    vdd::io::save_tensors(
        &path,
        &meta,
        &[t("obs", vec![4, 4]), t("actions", vec![4, 2]), lens, ("paths".into(), vec![1], vec![2.0])],
    )
    .unwrap();
    let e = Demos::load(&path).unwrap_err().to_string();
    assert!(e.contains("sum to 3"), "{e}");
    // A student checkpoint is not a dataset.
    std::fs::write(&path, b"junk").unwrap();
    assert!(Demos::load(&path).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

/// Steers the desired position toward the waypoints of path 0 (left, left, left lanes).
struct Waypoints;
impl vdd::rollout::WindowPolicy for Waypoints {
    fn window(&self) -> usize {
        5
    }
    fn act(&mut self, obs: &[f64], t: usize) -> vdd::Result<Vec<f64>> {
        let pts = [[0.425, -0.10], [0.355, 0.08], [0.28, 0.26], [0.28, 0.45]];
        Ok(obs
            .chunks(t * 4)
            .flat_map(|w| {
                let des = [w[(t - 1) * 4], w[(t - 1) * 4 + 1]];
                let p = pts.iter().find(|p| p[1] > des[1] + 0.01).unwrap_or(&pts[3]);
                let (dx, dy) = (p[0] - des[0], p[1] - des[1]);
                let n = (dx * dx + dy * dy).sqrt().max(1e-9);
                [0.007 * dx / n, 0.007 * dy / n]
            })
            .collect())
    }
}

#[test]
fn lock_step_rollouts_report_success_paths_and_timing() {
    let uniform = [1.0 / 24.0; 24];
    let (r, envs) = vdd::rollout::rollouts(&mut Waypoints, 7, 0.5, &uniform).unwrap();
    assert_eq!(envs.len(), 7);
    assert_eq!(r.success_rate, 1.0, "{r:?}");
    assert_eq!(r.distinct_paths, 1);
    assert_eq!(av::path_index(envs[0].code), Some(0));
    assert_eq!(r.path_counts.len(), 24);
    assert_eq!((r.path_counts[0], r.path_counts.iter().sum::<usize>()), (7, 7), "{:?}", r.path_counts);
    assert!(r.path_entropy.abs() < 1e-12 && (r.path_kl - 24f64.ln()).abs() < 1e-9);
    assert!(r.mean_episode_len > 50.0 && r.ms_per_call >= 0.0);
    assert!(envs[0].trajectory.len() == envs[0].steps + 1);
}

#[test]
fn noisy_demonstrations_record_corrections_and_stay_on_their_paths() {
    let (eps, _) = av::scripted_demos(2, av::DEFAULT_ALPHA, 0.002, av::DemoStyle::Spline, 5);
    assert_eq!(eps.len(), 48);
    let mut off = 0.0f64;
    for e in &eps {
        for t in 0..e.obs.len() - 1 {
            let executed = [e.obs[t + 1][0] - e.obs[t][0], e.obs[t + 1][1] - e.obs[t][1]];
            off = off.max((executed[0] - e.actions[t][0]).abs());
        }
    }
    // Executed deltas differ from the recorded (intended) actions by the injected noise.
    assert!(off > 0.002, "largest executed-vs-recorded difference {off}");
    let paths: std::collections::BTreeSet<usize> = eps.iter().map(|e| e.path).collect();
    assert_eq!(paths.len(), 24);
}

#[test]
fn turns_demonstrations_pass_every_row_at_its_lane_centre_and_turn_on_one_heading() {
    let centres: [&[f64]; 3] = [&[0.425, 0.575], &[0.355, 0.5, 0.645], &[0.28, 0.425, 0.575, 0.72]];
    let rows = [-0.10, 0.08, 0.26];
    let (eps, _) = av::scripted_demos(1, av::DEFAULT_ALPHA, 0.0, av::DemoStyle::Turns, 2);
    for e in &eps {
        let lanes = [e.path / 12, (e.path / 4) % 3, e.path % 4];
        for (l, &row) in rows.iter().enumerate() {
            // The rod position where it crosses the row.
            let o = e.obs.iter().find(|o| o[3] >= row).expect("the demonstration crosses every row");
            let want = centres[l][lanes[l]];
            assert!((o[2] - want).abs() < 2e-3, "path {}: row {l} crossed at x = {}, lane centre {want}", e.path, o[2]);
        }
        // Every action is straight ahead, on the turn heading, or a corner between them.
        let tan = av::TURN_HEADING.tan();
        let mut turning = 0;
        for a in &e.actions {
            let lateral = a[0].abs() / a[1].max(1e-12);
            if a[1] > 0.0 && (lateral - tan).abs() < 1e-6 {
                turning += 1;
            }
        }
        let changes = (1..3).filter(|&l| centres[l][lanes[l]] != centres[l - 1][lanes[l - 1]]).count();
        assert!(turning > 5 * changes, "path {}: {turning} steps on the turn heading", e.path);
    }
}
