#!/usr/bin/env bash
# The one command that runs every test. On a fresh machine it first installs what the
# tests need (scripts/install-deps.sh), then checks formatting and lints, builds every
# binary the multi-process tests spawn, and runs the whole suite with cargo-nextest
# (or cargo test where nextest is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

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

echo "== docker fault suite"
if docker info >/dev/null 2>&1; then
  docker/fault-suite.sh
else
  echo "SKIPPED: the Docker fault suite (docker/fault-suite.sh): no Docker engine answered 'docker info'"
fi
