"""The benchmark as CI runs it (`python -m bench --quick`): it runs, reports its ratios, and its full run reads
each list once, paged from the watch cache. Timings are printed, never asserted."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench.cluster import Shape

from conftest import ROOT

pytestmark = pytest.mark.slow


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
    # One paged list per kind: pods in pages of 500 (bench's default --page-size), every other kind in one page;
    # nothing per namespace. `--quick` asks for 1000 pods; bench/cluster.py generates Shape(1000).total_pods of them
    # (42 namespaces x 20 pods + 50 nodes x 3 DaemonSets = 990).
    pages = result["pages"]
    assert pages["pods"] == math.ceil(Shape(result["pods"]).total_pods / 500)
    assert set(pages) >= {"pods", "nodes", "namespaces", "deployments.apps", "jobs.batch", "nodes.metrics.k8s.io"}
    assert all(count == 1 for name, count in pages.items() if name != "pods")
    assert result["requests"]["list pages"] == sum(pages.values())
    assert "per-namespace lists" not in result["requests"]
    assert result["baseline_requests"] == sum(pages.values())
    # The first page of every list is read from the watch cache.
    for query in result["first_page_queries"]:
        assert query["limit"] == "500"
        assert query.get("resourceVersion") == "0"
        assert query.get("resourceVersionMatch") == "NotOlderThan"
        assert "continue" not in query
