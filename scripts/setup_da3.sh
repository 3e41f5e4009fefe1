#!/usr/bin/env bash
# Optional: a second environment (.venv-da3) where occkit runs the real Depth Anything 3 network.
# depth-anything-3 pins numpy<2 and pulls xformers, pycolmap, open3d, torchvision ...; the network needs none of
# them, and torchvision from PyPI does not load beside the CPU torch build. So the package goes in with --no-deps,
# plus the few libraries its network code imports. The README's two set-up commands stay free of all this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv-da3/bin/python ]; then
    "$PY" -m venv .venv-da3
fi
.venv-da3/bin/python -m pip install --quiet --upgrade pip
.venv-da3/bin/python -m pip install --quiet torch==2.13.0 "numpy<2" einops omegaconf safetensors huggingface-hub addict
.venv-da3/bin/python -m pip install --quiet --no-deps "depth-anything-3==0.1.1"
echo "torch==2.13.0" > .venv-da3/constraints.txt
echo "numpy<2" >> .venv-da3/constraints.txt
.venv-da3/bin/python -m pip install --quiet -c .venv-da3/constraints.txt -e ".[dev]"
echo "ready: .venv-da3/bin/python -m pytest -q -m da3   (tests/test_depth_da3_real.py)"
