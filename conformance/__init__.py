"""Cluster conformance suite: pytest as the gate that says whether a platform is in its promised state."""

__version__ = "0.1.0"
