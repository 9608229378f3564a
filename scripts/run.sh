#!/usr/bin/env bash
# Set up the runtime and start the app on the embedded default (README command 1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv …"
  python3 -m venv .venv
fi
# pip prints a line per package (a first install downloads ~1 GB and takes minutes)
echo "installing requirements.txt into .venv …"
.venv/bin/pip install --disable-pip-version-check --progress-bar off -r requirements.txt 2>&1 \
  | grep -v "^WARNING: Location\|^Requirement already satisfied" || true
echo "starting the app (the first start builds the index of seeds/: about a minute) …"
exec .venv/bin/python app.py "$@"
