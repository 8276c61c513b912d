#!/usr/bin/env bash
# The one command that runs every test. On a fresh machine it first installs what the
# tests need (scripts/install-deps.sh), then checks formatting and lints, builds every
# binary the multi-process tests spawn, and runs the whole suite with cargo-nextest
# (or cargo test where nextest is missing). With CI set (as .ci/run does), a test whose
# prerequisite is missing (ZooKeeper, Docker, cgroups) fails instead of printing SKIPPED.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
echo "== python virtualenv for third-party clients"
scripts/python-env.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== build binaries used by multi-process tests"
cargo build --workspace --bins --examples --quiet

# Tests marked #[ignore] only because they need binaries of another crate built first run
# here too: the step above built them.
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --run-ignored all "$@"
else
  cargo test --workspace --no-fail-fast "$@" -- --include-ignored
fi

# Every decoder of outside input fuzzed for a bounded time (12 targets x 5 s, about a
# minute on 2 cores); the JSON shows inputs tried and seconds per target, and any crash
# fails the run (its input is kept under target/fuzz-crashes/). The self-test first proves
# the harness reports a crash.
echo "== fuzz (tests/examples/fuzz.rs)"
rc=0
cargo run --quiet -p cluster --example fuzz -- --self-test --seconds-per-target=1 >/dev/null || rc=$?
if [ "$rc" -ne 1 ]; then
  echo "FAILED: the fuzzer's self-test exited $rc, not 1 (a crash found in its broken decoder)" >&2
  exit 1
fi
cargo run --quiet -p cluster --example fuzz -- --seconds-per-target="${FUZZ_SECONDS_PER_TARGET:-5}"

echo "== docker fault suite"
if docker info >/dev/null 2>&1; then
  docker/fault-suite.sh
else
  why="the Docker fault suite (docker/fault-suite.sh): no Docker engine answered 'docker info'"
  # Same rule as libproc::testing::skip_unless_ci: CI's machine has Docker, so there a
  # missing engine is a failure, never a skip.
  case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')" in
    ""|0|false) echo "SKIPPED: $why" ;;
    *) echo "FAILED: $why, and CI is set" >&2; exit 1 ;;
  esac
fi
