"""The one registry of checks: which modules declare them, and every check with its spec.

pytest collects exactly these modules for a conformance run, `python -m conformance rbac` computes permissions
from these specs and the docs list them; nothing finds checks by globbing source files. A check module added
to the suite is added here.
"""

from __future__ import annotations

import importlib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.check import CheckSpec, spec_of

# In the order a run judges them (waivers last: they judge the other checks).
CHECK_MODULES: tuple[str, ...] = (
    "conformance.kubernetes.test_pods",
    "conformance.kubernetes.test_workloads",
    "conformance.kubernetes.test_jobs",
    "conformance.kubernetes.test_namespaces",
    "conformance.kubernetes.test_objects",
    "conformance.kubernetes.test_storage",
    "conformance.kubernetes.test_container_resources",
    "conformance.kubernetes.test_network",
    "conformance.nodes.test_nodes",
    "conformance.nodes.test_capacity",
    "conformance.istio.test_policy",
    "conformance.istio.test_mtls",
    "conformance.istio.test_proxies",
    "conformance.kong.test_gateway",
    "conformance.kafka.test_kafka",
    "conformance.portal.test_registry",
    "conformance.monitoring.test_prometheus",
    "conformance.monitoring.test_service_monitors",
    "conformance.monitoring.test_mesh",
    "conformance.monitoring.test_volumes",
    "conformance.monitoring.test_grafana",
    "conformance.monitoring.test_jaeger",
    "conformance.stability.test_stability",
    "conformance.waivers.test_waivers",
)


@dataclass(frozen=True)
class RegisteredCheck:
    module: str
    name: str  # the test function's name: test_workload_ready
    spec: CheckSpec[Any]


def module_paths() -> list[Path]:
    """The check modules' files, what pytest collects for a conformance run (from a checkout or an install)."""
    paths = []
    for module in CHECK_MODULES:
        found = importlib.util.find_spec(module)
        if found is None or found.origin is None:
            raise ImportError(f"check module {module} is not installed")
        paths.append(Path(found.origin))
    return paths


def checks() -> list[RegisteredCheck]:
    """Every check of the suite, module by module, functions in name order."""
    found = []
    for module_name in CHECK_MODULES:
        module = importlib.import_module(module_name)
        for name, function in sorted(vars(module).items()):
            if not name.startswith("test_") or not isinstance(function, types.FunctionType):
                continue
            spec = spec_of(function)
            if spec is not None:
                found.append(RegisteredCheck(module_name, name, spec))
    return found


def catalogue() -> str:
    """docs/checks.md: every check of the suite, by area, as `python -m conformance checks` prints it."""
    lines = [
        "# Checks",
        "",
        "Every check of the suite, from the check registry (`conformance/registry.py`); regenerate with",
        "`python -m conformance checks > docs/checks.md` (a test keeps this file equal to that output).",
        "A profile configures which of them run and with which expectations (`{e}` below).",
        "",
        "| area | check | requirement | default severity | reads |",
        "|---|---|---|---|---|",
    ]
    for registered in sorted(checks(), key=lambda c: (c.spec.area, c.name)):
        spec = registered.spec
        reads = spec.declared_reads
        named = ", ".join(f"`{need.name}`" for need in reads) if reads is not None else "per expectation"
        requirement = spec.requirement.replace("|", "\\|")
        lines.append(f"| {spec.area} | `{registered.name}` | {requirement} | {spec.severity} | {named or 'nothing'} |")
    return "\n".join(lines) + "\n"
