"""Shared test helpers: a mutable copy of the bundled demo snapshot and running the suite as users do."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

# pytester runs the suite as users do; the plugin itself comes from its entry point. realserver: a real
# kube-apiserver and etcd (envtest) as fixtures.
pytest_plugins = ["pytester", "realserver"]

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "snapshots" / "254carbon"


@cache
def _demo_files() -> dict[str, Any]:
    """Every file of the demo: JSON parsed, anything else (proxy-status.txt, topics.txt) as text."""
    return {
        str(path.relative_to(DEMO)): json.loads(path.read_text()) if path.suffix == ".json" else path.read_text()
        for path in sorted(DEMO.rglob("*"))
        if path.is_file()
    }


class Snapshot:
    """An editable copy of a snapshot directory (the demo by default), written out on demand."""

    def __init__(self, files: dict[str, Any]) -> None:
        self.files = copy.deepcopy(files)
        self.truncated: dict[str, int] = {}

    def items(self, resource: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.files[f"kubernetes/{resource}.json"]["items"]
        return items

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        for item in self.items(resource):
            meta = item["metadata"]
            if meta["name"] == name and meta.get("namespace", "") == namespace:
                return item
        raise KeyError(f"{resource} {namespace}/{name} not in snapshot")

    def pods(self, namespace: str, prefix: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.items("pods")
            if p["metadata"]["namespace"] == namespace and p["metadata"]["name"].startswith(prefix)
        ]

    def remove(self, resource: str, namespace: str, name: str) -> None:
        self.items(resource).remove(self.get(resource, namespace, name))

    def add(self, resource: str, item: dict[str, Any]) -> None:
        self.items(resource).append(item)

    def drop(self, resource: str) -> None:
        del self.files[f"kubernetes/{resource}.json"]

    def truncate(self, resource: str, keep: int = 4000) -> None:
        """Cut a file short: a resource name (`pods`) or a path in the snapshot (`istio/syncz.json`)."""
        self.truncated[resource if "/" in resource else f"kubernetes/{resource}.json"] = keep

    def write(self, directory: Path) -> Path:
        for name, document in self.files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            text = document if isinstance(document, str) else json.dumps(document, indent=2)
            path.write_text(text[: self.truncated[name]] if name in self.truncated else text)
        return directory


KUBE_TOKEN = "kube-test-token-9f1c2e"


@pytest.fixture
def server() -> Iterator[Any]:
    """The Kubernetes API test server serving the demo, stopped on failure too."""
    from kubeapi import KubeApiServer

    api = KubeApiServer.from_snapshot(DEMO, token=KUBE_TOKEN)
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def kubeconfig(server: Any, tmp_path: Path) -> Path:
    path: Path = server.write_kubeconfig(tmp_path / "kubeconfig", context="254carbon-test")
    return path


@pytest.fixture
def demo() -> Snapshot:
    return Snapshot(_demo_files())


def live_prod_profile(directory: Path, name: str = "prod-live", drop_services: bool = False) -> Path:
    """prod for live runs: its waivers (dated for the demo's collection in 2025) renewed, so live runs today
    judge the cluster rather than the calendar; optionally without the services section."""
    document = yaml.safe_load((ROOT / "profiles" / "prod.yaml").read_text())
    document["metadata"]["name"] = name
    for waiver in document["waivers"]:
        waiver["expires"] = date(2099, 12, 31)
    if drop_services:
        del document["services"]
        document["waivers"] = [w for w in document["waivers"] if w["check"].startswith("test_workload_ready")]
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass(frozen=True)
class Outcome:
    outcome: str  # passed | failed | error | skipped
    message: str


def read_junit(path: Path) -> dict[str, Outcome]:
    """Per-check outcomes of a run, keyed by test name with its id (`test_x[kong/kong]`)."""
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                if tag == "skipped" and element.get("type") == "pytest.xfail":
                    outcome = "waived"
                message = (element.get("message") or "") + "\n" + (element.text or "")
                break
        outcomes[name] = Outcome(outcome, message)
    return outcomes


@dataclass
class SuiteRun:
    result: pytest.RunResult
    run_dir: Path

    @property
    def outcomes(self) -> dict[str, Outcome]:
        return read_junit(self.run_dir / "junit.xml")

    def not_passed(self) -> dict[str, Outcome]:
        """Failed and errored checks; waived ones are listed by `waived` (the demo has three)."""
        return {k: v for k, v in self.outcomes.items() if v.outcome not in ("passed", "waived")}

    def waived(self) -> dict[str, Outcome]:
        return {k: v for k, v in self.outcomes.items() if v.outcome == "waived"}


def run_suite(pytester: pytest.Pytester, *args: str, profile: str | None = "prod") -> SuiteRun:
    """Run the conformance checks in a subprocess, exactly as `pytest --profile=...` from a checkout.

    `profile=None` leaves the choice to `args` (several --profile, or --fleet).
    """
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(
        f"--rootdir={ROOT}",
        "-c",
        str(ROOT / "pyproject.toml"),
        str(ROOT / "conformance"),
        *([f"--profile={profile}"] if profile is not None else []),
        f"--reports={reports}",
        *args,
    )
    runs = sorted(p for p in reports.glob("*") if p.is_dir() and not p.is_symlink()) if reports.exists() else []
    return SuiteRun(result, runs[-1] if runs else reports)
