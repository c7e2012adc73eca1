#!/usr/bin/env bash
# Create .venv-compat with the official LogQS client (logqs==1.1.16), used by
# tests/e2e/test_official_client.py to run the documentation walkthrough against openlqs.
#
# The official client pins rosbags < 0.11 and heavy media packages (av, Pillow, DracoPy...), so it
# never goes into the project's .venv. A stamp file marks a finished install: once it exists this
# script does nothing, and a failed install leaves no stamp, so the next run tries again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
LOGQS_VERSION="1.1.16"
COMPAT_VENV=".venv-compat"
STAMP="$COMPAT_VENV/.installed-logqs-$LOGQS_VERSION"

if [[ -f "$STAMP" ]]; then
    exit 0
fi

echo "Installing logqs==$LOGQS_VERSION into $COMPAT_VENV ..." >&2
if [[ ! -x "$COMPAT_VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$COMPAT_VENV"
fi
"$COMPAT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "logqs==$LOGQS_VERSION"
"$COMPAT_VENV/bin/python" -c "import lqs, rosbags.highlevel"
touch "$STAMP"
