"""Gather each benchmark's latest output (benchmarks/results/*.md) into benchmarks/RESULTS.md.

    python benchmarks/collect_results.py
"""

from __future__ import annotations

from pathlib import Path

ORDER = ["quality", "quality_refinement", "main_job_choices", "refinement", "depth_finetune", "voxelize", "synth",
         "step_speed", "train_throughput", "health_faults", "loss_study"]


def main() -> None:
    here = Path(__file__).parent
    parts = {p.stem: p.read_text().strip() for p in sorted((here / "results").glob("*.md"))}
    names = [n for n in ORDER if n in parts] + sorted(set(parts) - set(ORDER))
    header = ("# Benchmark results\n\nEach section is the latest output of one script in `benchmarks/`, with the "
              "command that produced it. Ratios are against a reference measured in the same run.\n")
    body = "\n\n".join(parts[n].replace("\n# ", "\n## ").replace("\n## ", "\n### ").lstrip("# ").join(["## ", ""])
                       for n in names)
    (here / "RESULTS.md").write_text(header + "\n" + body + "\n")
    print(f"wrote {here / 'RESULTS.md'} ({', '.join(names)})")


if __name__ == "__main__":
    main()
