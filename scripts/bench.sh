#!/usr/bin/env bash
# Dataplane benchmark: builds dplb (scripts/setup.sh), then runs
# dplb_bench_dataplane, which measures the real worker code on in-memory ring
# ports (established NAT flows at 1M and 1k flows, new connections, the
# ring-only floor) and runs dpdk-testpmd --forward-mode=5tswap on net_ring
# ports in the same run, and prints one table with the ratio and how every
# number was obtained. It prints numbers; it is not a test.
#
# Extra arguments go to the benchmark, e.g.
#   scripts/bench.sh --seconds 2 --flows 200000     # quicker
#   scripts/bench.sh --testpmd none                 # dplb only
#   scripts/bench.sh --help
# Takes about a minute with the defaults; best run on an otherwise idle machine.
#
# Then dplb_bench_healthcheck: the health checker's CPU cost, a real prober
# checking 500 loopback targets once a second per check type (tcp, http,
# https with an EC P-256 and an RSA 2048 server key, udp); about 20 s. Its
# arguments come from DPLB_HC_BENCH_ARGS (default "--seconds 3"), e.g.
#   DPLB_HC_BENCH_ARGS="--targets 1000 --seconds 10" scripts/bench.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${DPLB_BUILD_DIR:-$ROOT/build}"

DPLB_BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/setup.sh"

# Debian ships dpdk-testpmd in dpdk-dev (the "dpdk" package has only the
# helper scripts). Install it if it is missing; without it the benchmark
# still runs and says that testpmd was skipped.
if ! command -v dpdk-testpmd >/dev/null 2>&1; then
  echo "bench.sh: dpdk-testpmd not found; installing dpdk-dev" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  fi
  apt=("${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  if ! "${apt[@]}" install -y -q --no-install-recommends dpdk-dev >&2; then
    "${apt[@]}" update -q >&2 || true
    "${apt[@]}" install -y -q --no-install-recommends dpdk-dev >&2 || true
  fi
fi

args=("$@")
if ! command -v dpdk-testpmd >/dev/null 2>&1; then
  echo "bench.sh: dpdk-testpmd unavailable: measuring dplb only" >&2
  args+=(--testpmd none)
fi

status=0
"$BUILD_DIR/bin/dplb_bench_dataplane" "${args[@]}" || status=$?

echo
read -r -a hc_args <<<"${DPLB_HC_BENCH_ARGS:---seconds 3}"
"$BUILD_DIR/bin/dplb_bench_healthcheck" "${hc_args[@]}" || status=$?
exit "$status"
