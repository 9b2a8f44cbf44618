#!/usr/bin/env bash
# Idempotent setup: install the Debian packages dplb needs (apt-get update only
# when something is missing), then configure and build into build/.
# Safe to run again: with nothing changed it does no apt work and no rebuild.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${DPLB_BUILD_DIR:-$ROOT/build}"

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config git
  # libraries
  libdpdk-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libssl-dev
  libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libpcap-dev prometheus-cpp-dev
  # runtime tools: dpdk (devbind and friends), openssl s_server, real servers and clients,
  # network namespaces, veth offload control, packet captures
  dpdk openssl python3 iproute2 ethtool curl netcat-openbsd tcpdump procps iputils-ping
  # promtool (checks /metrics scrapes and the alerting rules)
  prometheus
)

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "setup.sh: need root to run: $*" >&2
    exit 1
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
# Two parallel compile jobs per core leaves no headroom on a 2-core box and
# the big translation units (DPDK, gtest) need ~1 GiB each; nproc is right.
cmake --build "$BUILD_DIR" -j "$(nproc)"
