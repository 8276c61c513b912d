//! `libproc::testing::skip_unless_ci`: a missing prerequisite skips a test locally and
//! fails it under CI. Checked by running this test binary again with and without `CI`.

use std::process::Command;

/// Calls the helper when the probe variable is set (and does nothing otherwise).
#[test]
fn probe() {
    if std::env::var_os("LIBPROC_CI_SKIP_PROBE").is_some() {
        libproc::testing::skip_unless_ci("probe", "the probe's tool is missing");
    }
}

fn run_probe(ci: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("this test binary"));
    cmd.args(["--exact", "probe", "--nocapture", "--test-threads=1"])
        .env("LIBPROC_CI_SKIP_PROBE", "1")
        .env_remove("CI");
    if let Some(v) = ci {
        cmd.env("CI", v);
    }
    let out = cmd.output().expect("run the probe");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_prerequisite_skips_locally_and_fails_under_ci() {
    let (ok, err) = run_probe(None);
    assert!(ok, "{err}");
    assert!(
        err.contains("SKIPPED probe: the probe's tool is missing"),
        "{err}"
    );
    let (ok, err) = run_probe(Some("true"));
    assert!(!ok, "under CI the probe must fail: {err}");
    assert!(err.contains("CI is set"), "{err}");
    let (ok, _) = run_probe(Some("false"));
    assert!(ok, "CI=false is not CI");
}
