"""Reaching services (direct URL, API server service proxy, port-forward) and the raw bodies they return."""
