"""The benchmark as CI runs it (`python -m bench --quick`, and `--server real` where envtest's binaries are): it
runs, reports its ratios, and its full run reads each list once, from the watch cache. Timings are printed, never
asserted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.cluster import Shape

from conftest import ROOT


@pytest.mark.slow
def test_quick_benchmark_reports_ratios_memory_and_one_paged_list_per_kind(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for words in ("(a) baseline, raw lists", "(b) full pytest run", "b/a =", "(b-s)/a =", "(c) collection alone"):
        assert words in run.stdout
    assert "c/a =" in run.stdout
    assert "peak RSS: full run" in run.stdout

    [result] = orjson.loads(results.read_bytes())
    assert result["pods"] == 1000
    assert "conformance bench:" in result["outcome"]
    assert " could not evaluate" in result["outcome"]
    assert ", 0 could not evaluate" in result["outcome"]  # every check could judge the generated cluster
    for key in ("full_over_baseline", "collection_over_baseline", "full_peak_rss_mb", "baseline_seconds"):
        assert result[key] > 0
    assert_one_request_per_list(result)


def assert_one_request_per_list(result: dict[str, Any]) -> None:
    """One request per kind, nothing per namespace: every list asks the watch cache (resourceVersion=0), which
    answers it whole whatever the limit, as a real API server does."""
    __tracebackhide__ = True
    # `--quick` asks for 1000 pods; bench/cluster.py generates Shape(1000).total_pods of them
    # (42 namespaces x 20 pods + 50 nodes x 3 DaemonSets = 990).
    pages = result["pages"]
    assert Shape(result["pods"]).total_pods > 500  # more than a page, so paging would show
    assert set(pages) >= {"pods", "nodes", "namespaces", "deployments.apps", "jobs.batch", "nodes.metrics.k8s.io"}
    assert all(count == 1 for count in pages.values()), pages
    assert result["requests"]["list pages"] == sum(pages.values())
    assert "per-namespace lists" not in result["requests"]
    assert result["baseline_requests"] == sum(pages.values())
    for query in result["first_page_queries"]:
        assert query == {"limit": "500", "resourceVersion": "0", "resourceVersionMatch": "NotOlderThan"}


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.realserver
def test_the_benchmark_against_a_real_server_reports_ratios_and_the_kubectl_peer(tmp_path: Path) -> None:
    results = tmp_path / "real.json"
    # The environment pytest was given, KUBEBUILDER_ASSETS included (the realserver mark skips without it).
    run = bench("--server", "real", "--quick", "--json", str(results))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "seeded through the API in" in run.stdout

    [result] = orjson.loads(results.read_bytes())
    assert result["server"] == "real"
    assert result["pods"] == 1000
    assert result["seed_seconds"] > 0
    assert "conformance bench:" in result["outcome"]
    assert ", 0 could not evaluate" in result["outcome"]  # NodeMetrics too, from the metrics stand-in
    for key in ("full_over_baseline", "collection_over_baseline", "full_peak_rss_mb", "baseline_seconds"):
        assert result[key] > 0
    assert_one_request_per_list(result)
    if shutil.which("kubectl"):
        assert result["kubectl_seconds"] > 0
        assert result["collection_over_kubectl"] > 0
        assert "(k) kubectl get --raw, same lists" in run.stdout
    else:
        assert "collection_over_kubectl" not in result
        assert "kubectl peer skipped: kubectl not on PATH" in run.stdout


def test_the_real_server_benchmark_without_binaries_says_how_to_get_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    run = bench("--server", "real", "--quick", env=dict(os.environ))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "setup-envtest use 1.34 --bin-dir DIR" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "pods:" not in run.stdout  # refused before any cluster was generated
