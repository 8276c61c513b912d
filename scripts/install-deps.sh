#!/usr/bin/env bash
# Installs what the tests need and the machine lacks. Idempotent; quiet when all is there.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v curl >/dev/null 2>&1 || need+=(curl)
# A real ZooKeeper for the high-availability tests (Debian's package; tests start their
# own server on a free loopback port).
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || need+=(zookeeper)
# A static busybox: the Docker containerizer tests build their image from it with no
# registry (scripts/docker-test-image.sh).
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
# Python for the third-party clients' tests (scripts/python-env.sh builds their virtualenv).
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
# Headless Chromium and its WebDriver: the web UIs are tested in a real browser.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]} (run as root or install them)" >&2
    exit 1
  fi
  echo "== installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
