#!/usr/bin/env bash
# Build the image with podman and check that its trellisd starts and answers `trellis status`.
# Run from the repository root (.ci/run calls it). Installs podman from Debian's packages when
# running as root. Where a container cannot be run at all (no podman, no user namespaces or
# rlimits for the OCI runtime, no registry to pull the base images from) it says why and exits 0:
# that is the machine, not the image. Once the base images are there, a failed build or a
# container that does not answer fails the run.
set -euo pipefail

skip() { echo "skipped: $*"; exit 0; }

if ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null \
      || skip "podman could not be installed from Debian's packages"
  else
    skip "podman is not installed and cannot be installed here (not root, or no apt-get)"
  fi
fi
podman --version

# 1. Can this machine run any container? A one-binary image made from the host's /bin/true.
probe=$(mktemp -d)
trap 'rm -rf "$probe"; podman rm -f trellis-ci-smoke >/dev/null 2>&1 || true' EXIT
for f in /bin/true $(ldd /bin/true | grep -o '/[^ ]*'); do
  mkdir -p "$probe/root$(dirname "$f")" && cp -L "$f" "$probe/root$f"
done
tar -C "$probe/root" -cf "$probe/root.tar" .
podman import -q "$probe/root.tar" localhost/trellis-ci-probe:latest >/dev/null
if ! out=$(podman run --rm --network none localhost/trellis-ci-probe:latest /bin/true 2>&1); then
  podman rmi -f localhost/trellis-ci-probe:latest >/dev/null 2>&1 || true
  skip "podman cannot run a container on this machine: $(echo "$out" | tail -1)"
fi
podman rmi -f localhost/trellis-ci-probe:latest >/dev/null 2>&1 || true

# 2. The base images (the Dockerfile names them fully qualified).
rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' deploy/docker/Dockerfile)
for image in "docker.io/library/rust:${rust_version}-slim-bookworm" docker.io/library/debian:bookworm-slim; do
  if ! out=$(podman pull -q "$image" 2>&1); then
    skip "cannot pull the base image $image: $(echo "$out" | tail -1)"
  fi
done

# 3. Build (timed) and run.
t0=$(date +%s)
podman build -q -f deploy/docker/Dockerfile -t localhost/trellis-ci:latest . >/dev/null
echo "image built in $(( $(date +%s) - t0 )) s"
podman run -d --name trellis-ci-smoke -e TRELLIS_NAME="CI smoke" localhost/trellis-ci:latest >/dev/null
for _ in $(seq 1 60); do
  if podman exec trellis-ci-smoke trellis --home /data status >/dev/null 2>&1; then
    podman exec trellis-ci-smoke trellis --home /data status | head -3
    podman stop -t 20 trellis-ci-smoke >/dev/null
    echo "ok: the container's trellisd started and answered status"
    exit 0
  fi
  sleep 1
done
podman logs trellis-ci-smoke | tail -20
echo "the container's trellisd did not answer \`trellis status\` within 60 s"
exit 1
