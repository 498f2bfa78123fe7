#!/usr/bin/env bash
# Install into .venv (created if missing), build the C operator, run the mini-dataflow.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# compat: a plain .pth instead of setuptools' editable finder (see scripts/test.sh)
.venv/bin/python -m pip install --quiet -e . --config-settings editable_mode=compat \
    || .venv/bin/python -m pip install --quiet -e .
if [ -f examples/c-operator/Makefile ]; then make --quiet -C examples/c-operator; fi
exec .venv/bin/dora run examples/mini-dataflow.yml "$@"
