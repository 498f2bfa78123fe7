#!/usr/bin/env bash
# Install everything into .venv (created if missing) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# compat: the project directory on sys.path through a plain .pth, as an installed package
# would be found; the default editable finder costs every Python process (each node) about
# 7 ms at start-up. Where setuptools no longer offers it, the default mode.
.venv/bin/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat \
    || .venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/python -m ruff check dora_supervisor dora_api tests benchmarks examples
exec .venv/bin/python -m pytest -q "$@"
