#!/usr/bin/env bash
# Builds the image the Docker containerizer tests run, with no registry: Debian's static
# busybox at /bin/busybox plus links for the usual tools, imported as
# mesos-rs-test-busybox:latest. Idempotent (reuses the image when present) and safe to run
# from several tests at once (a lock serialises the build).
set -euo pipefail

IMAGE="${1:-mesos-rs-test-busybox:latest}"
DOCKER="${DOCKER:-docker}"

if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

BUSYBOX=""
for b in /bin/busybox /usr/bin/busybox; do
  if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then BUSYBOX="$b"; break; fi
done
if [ -z "$BUSYBOX" ]; then
  echo "a static busybox is needed: apt-get install -y busybox-static (scripts/install-deps.sh)" >&2
  exit 1
fi

exec 9>"${TMPDIR:-/tmp}/mesos-rs-test-image.lock"
flock 9
# Another run may have built it while this one waited.
if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc"
cp "$BUSYBOX" "$root/bin/busybox"
for tool in sh echo sleep cat ls env true false kill ps grep head tail wc dd; do
  ln -s busybox "$root/bin/$tool"
done
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
chmod 1777 "$root/tmp"
tar -C "$root" -cf - . | "$DOCKER" import \
  --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
echo "built $IMAGE"
