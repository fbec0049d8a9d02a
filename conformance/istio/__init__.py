"""Istio checks: mesh policy objects (proxy sync status comes with the service checks)."""
