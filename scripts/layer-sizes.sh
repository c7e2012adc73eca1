#!/usr/bin/env bash
# Unpacked size of each Lambda layer as SAM builds it for arm64 / Python 3.12, and of QueryFunction's
# layers together, against Lambda's 250 MB limit for a function and its layers (docs/performance.md).
# Downloads the pinned wheels with pip into a temporary folder; needs network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PIP:-.venv/bin/pip}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
measure() {  # name requirements-file -> MB unpacked
  local name="$1" requirements="$2"
  mkdir -p "$work/$name/wheels" "$work/$name/unpacked"
  "$PIP" download --quiet --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
    -r "$requirements" -d "$work/$name/wheels" 2>/dev/null
  for wheel in "$work/$name/wheels"/*.whl; do unzip -qo "$wheel" -d "$work/$name/unpacked"; done
  du -sm "$work/$name/unpacked" | cut -f1
}
package=$(du -sm --exclude=__pycache__ layers/openlqs/openlqs | cut -f1)
server=$(measure server layers/openlqs/requirements.txt)
queries=$(measure queries layers/queries/requirements.txt)
echo "OpenlqsLayer: ${server} MB of dependencies + ${package} MB openlqs package"
echo "QueryLayer:   ${queries} MB"
total=$((server + package + queries))
echo "QueryFunction (both layers): ${total} MB of Lambda's 250 MB"
[ "$total" -lt 250 ] || { echo "QueryFunction's layers do not fit Lambda's 250 MB" >&2; exit 1; }
