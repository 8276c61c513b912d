#!/usr/bin/env bash
# Builds the two images the demo cluster and the fault suite run, with no registry:
#
#   mesos-rs/mesos:<hash>      busybox (Debian's busybox-static) + the project's binaries,
#                              stripped, + the shared libraries ldd lists for them, + the
#                              demo's front door (docker/front-door, as mesos-front-door)
#   mesos-rs/zookeeper:<hash>  a jlink'ed Java runtime + Debian's ZooKeeper jars
#
# Each root file system is assembled in a scratch directory and `docker import`ed. The tag
# is a hash of the image's inputs (binaries, libraries, jars, this script), so a second run
# with unchanged inputs reuses the images and does nothing. Both are also tagged `:latest`.
#
# Usage: docker/build-images.sh          (binaries from $CARGO_TARGET_DIR or target/, debug)
#        BIN_DIR=/path/to/bins docker/build-images.sh
# Prints `MESOS_IMAGE=...` and `ZK_IMAGE=...` lines at the end (scripts source them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
BIN_DIR="${BIN_DIR:-${CARGO_TARGET_DIR:-$repo/target}/debug}"
BINS=(mesos-master mesos-agent mesos-executor mesos-execute long-lived-framework test-framework mesos-local)
BINS+=(chronos)
# mesos-chaos applies live fault rules (docker/cluster.py chaos_agent_partition).
BINS+=(mesos-chaos)
JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /usr/bin/java)")")")}"
ZK_JAR=/usr/share/java/zookeeper.jar
JAVA_MODULES=java.base,java.management,java.naming,java.xml,java.security.sasl,java.security.jgss,jdk.unsupported,jdk.management,jdk.naming.dns

log() { echo "build-images: $*" >&2; }
# Marathon (frameworks/marathon) runs in the same image (docker-compose.yml: marathon1/2).
BINS+=(marathon)
die() { echo "build-images: $*" >&2; exit 1; }

# What the host needs: busybox-static for the userland, zookeeper (+ a JDK with jlink).
need=()
[ -x /bin/busybox ] || need+=(busybox-static)
[ -f "$ZK_JAR" ] || need+=(zookeeper)
[ -x "$JAVA_HOME/bin/jlink" ] || need+=(openjdk-17-jdk-headless)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${need[*]} (run as root or apt-get install them)"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
fi
for b in "${BINS[@]}"; do
  [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing: run 'cargo build --workspace --bins' first"
done

# The shared libraries (and the dynamic loader) the given ELF files need, one per line.
libs_of() {
  ldd "$@" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/[^ ]*ld-linux/{print $1}' | sort -u
}

# Copies each file given to the same path under root $1, following symlinks.
copy_into() {
  local root=$1; shift
  local f
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
  done
}

# A minimal busybox userland in $1: /bin/<applet> links, /etc, /tmp.
userland() {
  local root=$1 a
  mkdir -p "$root"/{bin,sbin,etc,tmp,proc,sys,dev,root,var/lib/mesos,usr/bin,usr/local/bin,lib64}
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# Imports root file system $2 as image $1 with docker-import options after.
import_root() {
  local tag=$1 root=$2; shift 2
  tar -C "$root" --numeric-owner -cf - . | docker import "$@" - "$tag" >/dev/null
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

script_hash=$(sha256sum "$0" | cut -c1-64)
work=$(mktemp -d /tmp/mesos-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ---- mesos image ------------------------------------------------------------------------
bin_paths=()
for b in "${BINS[@]}"; do bin_paths+=("$BIN_DIR/$b"); done
mapfile -t mesos_libs < <(libs_of /bin/busybox "${bin_paths[@]}")
mesos_hash=$( { echo "$script_hash"; sha256sum /bin/busybox "$here/front-door" "${bin_paths[@]}" "${mesos_libs[@]}" | cut -c1-64; } | sha256sum | cut -c1-16)
MESOS_IMAGE="mesos-rs/mesos:$mesos_hash"
if have_image "$MESOS_IMAGE"; then
  log "$MESOS_IMAGE is up to date"
else
  log "building $MESOS_IMAGE (stripping ${#BINS[@]} binaries)"
  root="$work/mesos"
  userland "$root"
  for b in "${BINS[@]}"; do
    strip --strip-debug -o "$root/usr/local/bin/$b" "$BIN_DIR/$b"
  done
  cp "$here/front-door" "$root/usr/local/bin/mesos-front-door"
  chmod 755 "$root/usr/local/bin/mesos-front-door"
  copy_into "$root" "${mesos_libs[@]}"
  import_root "$MESOS_IMAGE" "$root" \
    -c 'ENV PATH=/usr/local/bin:/bin:/usr/bin' -c 'WORKDIR /' -c 'CMD ["/bin/sh"]'
  rm -rf "$root"
fi
docker tag "$MESOS_IMAGE" mesos-rs/mesos:latest

# ---- zookeeper image ---------------------------------------------------------------------
# The jars: zookeeper.jar, its manifest's Class-Path, and zookeeper-jute.
mapfile -t zk_jars < <(
  { echo "$ZK_JAR"
    unzip -p "$ZK_JAR" META-INF/MANIFEST.MF | tr -d '\r' |
      awk '/^Class-Path:/{sub(/^Class-Path: /,""); p=1; printf "%s", $0; next}
           p && /^ /{sub(/^ /,""); printf "%s", $0; next} {p=0}' | tr ' ' '\n'
  } | grep . | while read -r j; do [ -e "$j" ] && echo "$j"; done | sort -u)
zk_hash=$( { echo "$script_hash $JAVA_MODULES"; cat "$JAVA_HOME/release";
             sha256sum /bin/busybox "$here/zookeeper/"* "${zk_jars[@]}" | cut -c1-64; } | sha256sum | cut -c1-16)
ZK_IMAGE="mesos-rs/zookeeper:$zk_hash"
if have_image "$ZK_IMAGE"; then
  log "$ZK_IMAGE is up to date"
else
  log "building $ZK_IMAGE (jlink: $JAVA_MODULES)"
  root="$work/zk"
  userland "$root"
  mkdir -p "$root/opt" "$root/var/lib/zookeeper" "$root/conf"
  "$JAVA_HOME/bin/jlink" --add-modules "$JAVA_MODULES" --strip-debug --no-header-files \
    --no-man-pages --output "$root/opt/java"
  mapfile -t jlibs < <(find "$root/opt/java" -name '*.so' -print; echo "$root/opt/java/bin/java")
  mapfile -t zk_libs < <(libs_of /bin/busybox "${jlibs[@]}" | grep -v "^$root")
  copy_into "$root" "${zk_libs[@]}"
  copy_into "$root" "${zk_jars[@]}"
  cp "$here/zookeeper/zoo.cfg" "$here/zookeeper/start-zookeeper" "$root/conf/"
  chmod +x "$root/conf/start-zookeeper"
  import_root "$ZK_IMAGE" "$root" \
    -c 'ENV PATH=/opt/java/bin:/bin' -c 'EXPOSE 2181' -c 'CMD ["/conf/start-zookeeper"]'
  rm -rf "$root"
fi
docker tag "$ZK_IMAGE" mesos-rs/zookeeper:latest

echo "MESOS_IMAGE=$MESOS_IMAGE"
echo "ZK_IMAGE=$ZK_IMAGE"
