#!/usr/bin/env bash
# Runs setup (install + build), then the whole suite through ctest.
# Extra arguments go to ctest (e.g. -L unit, -R conf).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${DPLB_BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/setup.sh"

# Namespace (e2e) tests take the RESOURCE_LOCK "netns" and never overlap;
# the rest runs two at a time.
cd "$BUILD_DIR"
exec ctest --output-on-failure -j "$(nproc)" --timeout 600 "$@"
