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
    let (eps, rejected) = av::scripted_demos(4, av::DEFAULT_ALPHA, 0);
    assert_eq!(eps.len(), 96);
    let paths: std::collections::BTreeSet<usize> = eps.iter().map(|e| e.path).collect();
    assert_eq!(paths.len(), 24);
    let lens: Vec<usize> = eps.iter().map(|e| e.obs.len()).collect();
    let (min, max) = (*lens.iter().min().unwrap(), *lens.iter().max().unwrap());
    let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
    eprintln!("lengths {min}..{max}, mean {mean:.1}, rejected {rejected}");
    assert!(min > 60 && max < 200 && (80.0..150.0).contains(&mean), "lengths {min}..{max}, mean {mean}");
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
    let mut rng = HostRng::new(1, 1);
    assert!((0..20).filter_map(|_| av::scripted_demo(5, 0.5, &mut rng)).count() >= 10);
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
