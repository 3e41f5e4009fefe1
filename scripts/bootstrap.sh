#!/usr/bin/env bash
# Create (or reuse) .venv and install occkit with the pinned CPU torch first, so that the
# plain `torch>=2.3` requirement is already satisfied and pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${OCCKIT_EXTRAS:-dev}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet torch==2.13.0
fi
TORCH_VERSION=$(.venv/bin/python -c "import torch; print(torch.__version__.split('+')[0])")
echo "torch==${TORCH_VERSION}" > .venv/constraints.txt
.venv/bin/python -m pip install --quiet -c .venv/constraints.txt -e ".[${EXTRAS}]"
