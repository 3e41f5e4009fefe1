#!/usr/bin/env bash
# The main job: train on the built-in synthetic world, evaluate, write pictures and a report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export MPLBACKEND=Agg
exec .venv/bin/occkit run --config configs/synthetic_uav.py "$@"
