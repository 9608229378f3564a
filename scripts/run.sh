#!/usr/bin/env bash
# Set up the runtime and start the app on the embedded default (README command 1).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
exec .venv/bin/python app.py "$@"
