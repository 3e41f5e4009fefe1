"""Training health: detectors, the live monitor callback and the doctor.

Import HealthMonitor from ``occkit.health.monitor`` (it pulls in Lightning); the rest is light.
"""

from occkit.health.config import HealthConfig
from occkit.health.detectors import DetectorSuite, HealthCheck
from occkit.health.events import HealthEvent, TrainingHealthError

__all__ = ["DetectorSuite", "HealthCheck", "HealthConfig", "HealthEvent", "TrainingHealthError"]
