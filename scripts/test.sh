#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export WANDB_MODE=offline MPLBACKEND=Agg
.venv/bin/python -m ruff check src tests benchmarks scripts configs
.venv/bin/python -m pytest -q "$@"
# CI also runs the real Depth Anything 3 tests in their own environment (scripts/setup_da3.sh); a user's run of
# this command does not, unless OCCKIT_DA3_TESTS=1.
if [ "${CI:-}" = "true" ] || [ "${OCCKIT_DA3_TESTS:-0}" = "1" ]; then
    bash scripts/setup_da3.sh
    .venv-da3/bin/python -m pytest -q -m da3 tests/test_depth_da3_real.py
fi
