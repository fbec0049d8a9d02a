"""Monitoring checks: Prometheus scraping, Grafana dashboards, Jaeger traces."""
