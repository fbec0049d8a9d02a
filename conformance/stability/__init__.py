"""Stability checks: what a hold window after a deploy saw change for the worse."""
