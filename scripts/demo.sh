#!/usr/bin/env bash
# The main job. For now: set up, build, and validate the demo configuration
# with dplbd --check-config.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${DPLB_BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/setup.sh"
exec "$BUILD_DIR/bin/dplbd" --check-config "$ROOT/conf/examples/demo.yaml"
