"""Experiments that drive training to test occkit itself: fault injection for the health detectors.

They live here, not in ``occkit.health``, because they import the trainer and the data loader; the health
package only reads numbers (steps, checks, run directories) and never trains.
"""
