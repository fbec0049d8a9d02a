"""Cluster state: the resources a run reads, from a live API server or a snapshot directory."""
