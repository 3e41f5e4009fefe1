"""`occkit score PRED GT`: the field's metrics on any network's predicted grid files, beside the trivial baselines
when the network's input grids are given (occkit.evaluation.score).

Exit codes: 0 done, 2 a missing or unreadable file, grids that do not match, a prediction missing for a ground
truth, 1 anything else occkit reports on purpose.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def score(
        pred: Path = typer.Argument(..., help="predicted grids: a file or a folder (searched recursively) of .npz/.npy "
                                    "grids, probabilities, 0/1 or labels"),
        gt: Path = typer.Argument(..., help="ground truth: a file or a folder, e.g. Occ3D's gts/ (labels.npz per "
                                  "token); matched to the predictions by name"),
        inputs: Path | None = typer.Option(None, "--inputs", "-i", help="the network's input grids (e.g. from "
                                           "occkit voxelize), matched by name: scores the copied input, the dilated "
                                           "input and the lowest input level beside the predictions"),
        mask: str = typer.Option("auto", "--mask", help="auto (the ground truth's camera mask where it has one, "
                                 "Occ3D's convention), camera, lidar or none"),
        threshold: float | None = typer.Option(None, "--threshold", "-t", help="occupancy threshold for probability "
                                               "grids (default: the one stored in the prediction file, else 0.5)"),
        grid: str | None = typer.Option(None, "--grid", help="grid preset when the files store none"),
        spec_json: Path | None = typer.Option(None, "--spec-json", help='JSON {"pc_range", "voxel_size"} of the grid'),
        infos: Path | None = typer.Option(None, "--infos", help="an Occ3D info file (.pkl, any layout the Occ3D "
                                          "source reads): scores RayIoU from SparseOcc's origins too (about 0.6 s "
                                          "a frame on a 2-core CPU)"),
        free_label: int | None = typer.Option(None, "--free-label", help="label of empty voxels in semantic grids "
                                              "(default: the format's own, 17, or 23 for Occ3D-Waymo)"),
        out: Path | None = typer.Option(None, "--out", "-o", help="folder for metrics.json and metrics.md (default: "
                                        "<pred>_score beside the predictions)"),
        pictures: bool = typer.Option(True, "--pictures/--no-pictures", help="TP/FP/FN pictures of the worst and "
                                      "the median frame in <out>/pictures"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Score predicted grid files from any network against ground truth: IoU, mIoU, per height and region."""
        from rich.console import Console

        from occkit.commands._exit import exit_on_user_error

        target = out if out is not None else pred.with_name(f"{pred.name.removesuffix('.npz')}_score")
        with exit_on_user_error():
            from occkit.evaluation.report import console_tables
            from occkit.evaluation.score import score as score_files

            result = score_files(pred, gt, inputs, target, mask=mask, threshold=threshold, grid=grid,
                                 spec_json=spec_json, free_label=free_label, infos=infos, pictures=pictures,
                                 progress=progress)
        console = Console(highlight=False)
        for table in console_tables(result.report):
            console.print(table)
        ray = result.report.get("ray_iou")
        if ray is not None:
            console.print("RayIoU (SparseOcc's origins): " + ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in ray.items()))
        semantic = result.report.get("semantic")
        if semantic is not None:
            console.print(f"semantic mIoU (Occ3D, free left out): {semantic['miou']:.4f}" if semantic["miou"]
                          is not None else "semantic mIoU: n/a")
        note = result.report["baselines"].get("note")
        if note:
            console.print(f"note: {note}")
        console.print(f"scored {result.report['num_frames']} frames (mask: {result.report['mask']}); wrote "
                      f"{result.json_path} and {result.md_path}")
