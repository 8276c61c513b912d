#!/usr/bin/env bash
# Brings up a local node and runs something on it. Until mesos-local lands this is the
# libproc demo: two OS processes exchanging typed messages over TCP, plus the HTTP
# endpoints both serve on their one port.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p libproc --bins
bin=target/debug/libproc-node
port=${PORT:-5099}
"$bin" serve --listen=127.0.0.1:$port > /tmp/libproc-serve.out 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening /tmp/libproc-serve.out && break; sleep 0.1; done
echo "server: $(cat /tmp/libproc-serve.out)"
"$bin" ping --to=echo@127.0.0.1:$port --count=3
echo "GET /echo/hello:        $(curl -s http://127.0.0.1:$port/echo/hello)"
echo "GET /metrics/snapshot:  $(curl -s http://127.0.0.1:$port/metrics/snapshot | head -c 300)..."
