"""Medic: answers production alerts with playbooks, narrates, and stays safe."""

__version__ = "0.1.0"
