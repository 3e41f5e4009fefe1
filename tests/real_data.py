"""Where the real LiDAR scans live: ../shared/data/real beside the repository (CI puts shared/ there too)."""

from pathlib import Path

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
AERIAL_LAS = REAL_DIR / "aerial_classified.las"
