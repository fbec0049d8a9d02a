"""Kubernetes object checks: pods, workloads, jobs, namespaces, policy object counts, storage."""
