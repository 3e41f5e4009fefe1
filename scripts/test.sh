#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export WANDB_MODE=offline MPLBACKEND=Agg
.venv/bin/python -m ruff check src tests benchmarks scripts configs
exec .venv/bin/python -m pytest -q "$@"
