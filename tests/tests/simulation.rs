//! The seeded whole-cluster simulation (`cluster::sim`) as a suite: a CI budget of seeds
//! with every invariant held, replay (the same seed gives the same trace), and a quiet
//! cluster converging without faults. A seed that breaks an invariant fails with its seed
//! and its trace; once understood it becomes a pinned test here.

use cluster::sim::{run_seed, run_seeds, SimConfig};

/// Seeds per CI run (`SIM_SEEDS` overrides it).
const CI_SEEDS: u64 = 1000;

#[test]
fn a_ci_budget_of_seeds_keeps_every_invariant() {
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_SEEDS);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let reports = run_seeds(0..n, &SimConfig::default(), workers);
    assert_eq!(reports.len() as u64, n);
    let faults: u64 = reports.iter().flat_map(|r| r.faults.values()).sum();
    assert!(faults > n, "the seeds injected faults ({faults} in {n} seeds)");
    let failing: Vec<_> = reports.iter().filter(|r| !r.breaks.is_empty()).collect();
    if let Some(first) = failing.first() {
        let seeds: Vec<u64> = failing.iter().map(|r| r.seed).collect();
        panic!("{} seeds failed: {seeds:?}\n{}", failing.len(), first.explain());
    }
}

#[test]
fn the_same_seed_replays_the_same_trace() {
    let config = SimConfig::default();
    let a = run_seed(7, &config);
    let b = run_seed(7, &config);
    assert!(a.trace.len() > 20, "a run with faults: {:?}", a.trace);
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.faults, b.faults);
    assert_eq!(a.simulated, b.simulated);
    let c = run_seed(8, &config);
    assert_ne!(a.trace, c.trace, "another seed, another schedule");
}

#[test]
fn without_faults_the_cluster_converges_with_every_intent_running() {
    let config = SimConfig {
        faults: false,
        ..SimConfig::default()
    };
    let r = run_seed(1, &config);
    assert!(r.breaks.is_empty(), "{}", r.explain());
    assert!(r.faults.values().all(|n| *n == 0), "{:?}", r.faults);
    assert!(r.trace.iter().any(|l| l.ends_with("converged")), "{:?}", r.trace);
    assert!(r.simulated < std::time::Duration::from_secs(60), "{:?}", r.simulated);
}
