#!/usr/bin/env bash
# Install everything into .venv (created if missing) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/python -m ruff check dora_supervisor dora_api tests benchmarks examples
exec .venv/bin/python -m pytest -q "$@"
