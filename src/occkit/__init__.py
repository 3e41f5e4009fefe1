"""occkit: train, evaluate and diagnose 3D occupancy prediction networks."""

__version__ = "0.1.0"
