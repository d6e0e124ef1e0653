"""Switchboard: a desktop operations console for ML model deployments."""

__version__ = "0.1.0"
