"""CLI verbs, one module each; every module exposes ``register(app: typer.Typer)``."""

COMMAND_MODULES = ["voxelize", "synth", "verify", "preprocess", "train", "evaluate", "score", "predict", "viz",
                   "doctor", "run", "export"]
