"""The prepared GPU benchmark runs here too: without CUDA it says the figures are unmeasured and stops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_throughput.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the script measures for minutes")
def test_gpu_script_skips_cuda_cases_with_a_message_on_a_cpu() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120,
                         cwd=SCRIPT.parent)
    assert out.returncode == 0, out.stderr
    assert "no CUDA device here: the GPU figures are unmeasured" in out.stdout
