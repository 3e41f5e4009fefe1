"""occkit: train, evaluate and diagnose 3D occupancy prediction networks.

The main names are here (imported on first use, so ``import occkit`` stays cheap)::

    import occkit
    spec = occkit.GridSpec.preset("uav")
    cloud = occkit.read_points("scan.pcd")
    grids = occkit.voxelize(cloud.xyz, spec)
    cfg = occkit.load_config("synthetic_uav")
    model = occkit.load_model("runs/my-run")            # then model.predict(points), model.refine(points)
"""

from occkit.utils.lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    "GridSpec": "occkit.geometry.grid",
    "voxelize": "occkit.geometry.voxelize",
    "read_points": "occkit.io.points",
    "write_points": "occkit.io.points",
    "load_config": "occkit.config",
    "ExperimentConfig": "occkit.config",
    "load_model": "occkit.api",
    "OccupancyModel": "occkit.api",
    "GridPrediction": "occkit.api",
}
__all__ = ["__version__", *_EXPORTS]
__getattr__ = lazy_getattr("occkit", _EXPORTS)
