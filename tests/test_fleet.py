"""Fleets: several clusters, each against its own profile, in one run, one report, in parallel with pytest-xdist."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.profile.fleet import FleetError, load_fleet

from conftest import DEMO, KUBE_TOKEN, ROOT, Snapshot, SuiteRun, live_prod_profile, run_suite
from kubeapi import KubeApiServer

BROKEN_WORKLOAD = ("deployments.apps", "kong", "kong")


def fleet_file(directory: Path, clusters: list[dict[str, Any]], name: str = "demo-fleet") -> Path:
    path = directory / "fleet.yaml"
    document = {"apiVersion": "conformance/v1alpha1", "kind": "Fleet", "metadata": {"name": name}}
    path.write_text(yaml.safe_dump({**document, "clusters": clusters}, sort_keys=False))
    return path


@pytest.fixture
def three_clusters(pytester: pytest.Pytester, demo: Snapshot) -> Path:
    """eu: the demo as is (passes); us: Kong's Deployment gone (fails); ap: no pods list (cannot evaluate)."""
    broken = Snapshot(demo.files)
    broken.remove(*BROKEN_WORKLOAD)
    us = broken.write(pytester.path / "us")
    blind = Snapshot(demo.files)
    blind.drop("pods")
    ap = blind.write(pytester.path / "ap")
    return fleet_file(
        pytester.path,
        [
            {"name": "eu", "profile": "prod", "snapshot": str(DEMO)},
            {"name": "us", "profile": "prod", "snapshot": str(us)},
            {"name": "ap", "profile": "prod", "snapshot": str(ap)},
        ],
    )


def verdicts(run: SuiteRun) -> dict[str, str]:
    document = json.loads((run.run_dir / "results.json").read_text())
    return {check["name"]: check["verdict"] for check in document["checks"]}


def by_cluster(run: SuiteRun) -> dict[str, dict[str, str]]:
    """{cluster: {check name within the cluster: verdict}} from results.json."""
    table: dict[str, dict[str, str]] = {}
    for check in json.loads((run.run_dir / "results.json").read_text())["checks"]:
        name = check["name"].replace(f"[{check['cluster']}:", "[", 1)
        table.setdefault(check["cluster"], {})[name] = check["verdict"]
    return table


def test_fleet_judges_each_cluster_against_its_profile_in_one_report(
    pytester: pytest.Pytester, three_clusters: Path
) -> None:
    run = run_suite(pytester, f"--fleet={three_clusters}", profile=None)
    assert run.result.ret == 1, run.result.stdout.str()  # a failure (us) outranks could-not-evaluate (ap)
    table = by_cluster(run)
    assert set(table) == {"eu", "us", "ap"}
    # The same checks in every cluster: one profile, three clusters.
    assert set(table["eu"]) == set(table["us"]) == set(table["ap"])
    assert set(table["eu"].values()) == {"passed", "waived"}
    failed_us = {name for name, v in table["us"].items() if v == "failed"}
    assert "test_workload_ready[kong/Deployment/kong]" in failed_us
    errors_ap = {name for name, v in table["ap"].items() if v == "error"}
    assert any(n.startswith("test_no_failing_pods") for n in errors_ap)
    assert not any(v == "error" for v in table["eu"].values())

    # Ids carry the cluster; each cluster's evidence is in its own directory.
    assert "test_workload_ready[us:kong/Deployment/kong]" in run.outcomes
    for cluster in ("eu", "us"):
        assert (run.run_dir / "evidence" / cluster / "kubernetes" / "pods.json").is_file()
    assert not (run.run_dir / "evidence" / "ap" / "kubernetes" / "pods.json").exists()
    # What could not be evaluated still points at its evidence: meta.json says why pods are missing.
    records = json.loads((run.run_dir / "results.json").read_text())["checks"]
    blind = next(r for r in records if r["cluster"] == "ap" and r["name"].startswith("test_no_failing_pods"))
    assert blind["verdict"] == "error"
    assert blind["evidence"] == ["meta.json"]
    assert "pods" in json.loads((run.run_dir / "evidence" / "ap" / "meta.json").read_text())["errors"]
    kong = next(r for r in records if r["name"] == "test_workload_ready[ap:kong/Deployment/kong]")
    assert kong["verdict"] == "error"
    assert kong["evidence"] == ["deployments.apps", "meta.json"]

    # The terminal: one line per cluster, then the run's last line.
    lines = run.result.stdout.lines
    assert re.match(
        r"^conformance fleet demo-fleet: FAILED — \d+ passed, [1-9]\d* failed, [1-9]\d* could not", lines[-1]
    )
    assert any(re.match(r"^\s+us: \d+ passed, [1-9]\d* failed", line) for line in lines[-5:])

    # The report: a cluster × check matrix with one column per cluster, the failure linked from its cell.
    page = (run.run_dir / "report.html").read_text()
    section = page[page.index('<section id="cf-fleet">') :]
    section = section[: section.index("</section>")]
    assert "<th>eu</th><th>us</th><th>ap</th>" in section
    row = next(r for r in section.split("<tr>") if "test_workload_ready[kong/Deployment/kong]" in r)
    cells = re.findall(r'<td class="cf-row-(\w+)">', row)
    assert cells == ["passed", "failed", "error"]
    assert '<a href="#cf-check-' in row

    # The manifest names every cluster with its profile and identity, and verifies.
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert set(manifest["clusters"]) == {"eu", "us", "ap"}
    assert manifest["clusters"]["us"]["profile"]["name"] == "prod"
    assert manifest["run"]["exit_code"] == 1
    verify = pytester.run("python", "-m", "conformance", "verify", str(run.run_dir))
    assert verify.ret == 0, verify.stdout.str()


def test_xdist_runs_each_cluster_on_one_worker_with_the_same_verdicts(
    pytester: pytest.Pytester, three_clusters: Path
) -> None:
    sequential = run_suite(pytester, f"--fleet={three_clusters}", profile=None)
    parallel = run_suite(pytester, f"--fleet={three_clusters}", "-n", "2", "-v", profile=None)
    assert parallel.result.ret == sequential.result.ret == 1
    assert verdicts(parallel) == verdicts(sequential)
    # Every check of a cluster ran on the same worker, so its state was collected once, there.
    workers: dict[str, set[str]] = {}
    for line in parallel.result.stdout.lines:
        match = re.match(r"^\[(gw\d+)\] .*::test_\w+\[(eu|us|ap):", line)
        if match:
            workers.setdefault(match[2], set()).add(match[1])
    assert set(workers) == {"eu", "us", "ap"}
    assert all(len(ran_on) == 1 for ran_on in workers.values()), workers
    assert len(set().union(*workers.values())) == 2  # both workers had work
    # The controller's report has every record the workers made, with culprits and waivers intact.
    records = json.loads((parallel.run_dir / "results.json").read_text())["checks"]
    kong = next(r for r in records if r["name"] == "test_workload_ready[us:kong/Deployment/kong]")
    assert kong["verdict"] == "failed"
    assert kong["culprits"]
    assert kong["cluster"] == "us"
    assert any(r["waiver"] and r["waiver"]["ticket"] for r in records if r["cluster"] == "eu")
    page = (parallel.run_dir / "report.html").read_text()
    assert '<section id="cf-fleet">' in page
    verify = pytester.run("python", "-m", "conformance", "verify", str(parallel.run_dir))
    assert verify.ret == 0, verify.stdout.str()


def test_several_profiles_pair_with_snapshots_in_order(pytester: pytest.Pytester) -> None:
    run = run_suite(
        pytester,
        "--profile=prod",
        "--profile=staging",
        f"--snapshot={DEMO}",
        f"--snapshot={DEMO}",
        "-n",
        "2",
        profile=None,
    )
    # staging expects one Kong replica and one node; the prod snapshot has two of each.
    assert run.result.ret == 1, run.result.stdout.str()
    table = by_cluster(run)
    assert set(table) == {"prod", "staging"}
    assert {n for n, v in table["staging"].items() if v == "failed"} == {
        "test_workload_ready[kong/Deployment/kong]",
        "test_nodes[count]",
    }
    assert "failed" not in table["prod"].values()
    assert run.result.stdout.lines[-1].startswith("conformance fleet prod+staging: FAILED")


def test_exit_codes_over_the_fleet(pytester: pytest.Pytester, demo: Snapshot) -> None:
    blind = Snapshot(demo.files)
    blind.drop("pods")
    ap = blind.write(pytester.path / "ap")
    healthy = fleet_file(
        pytester.path,
        [
            {"name": "eu", "profile": "prod", "snapshot": str(DEMO)},
            {"name": "us", "profile": "prod", "snapshot": str(DEMO)},
        ],
    )
    assert run_suite(pytester, f"--fleet={healthy}", profile=None).result.ret == 0
    unseen = fleet_file(
        pytester.path,
        [
            {"name": "eu", "profile": "prod", "snapshot": str(DEMO)},
            {"name": "ap", "profile": "prod", "snapshot": str(ap)},
        ],
    )
    run = run_suite(pytester, f"--fleet={unseen}", profile=None)
    assert run.result.ret == 2, run.result.stdout.str()  # nothing failed, but ap could not be judged
    assert "NOT EVALUATED" in run.result.stdout.lines[-1]


def test_waivers_are_judged_per_cluster(pytester: pytest.Pytester, demo: Snapshot) -> None:
    """A waiver that covers a failure in one cluster is stale in another where the failure is gone."""
    cleaned = Snapshot(demo.files)
    # The portal entries PLAT-2204 waives (Kiali, Doris) are cleaned up in this cluster only.
    portal = cleaned.files["portal/services.json"]
    portal["services"] = [s for s in portal["services"] if s["name"] not in ("Kiali", "Apache Doris")]
    path = cleaned.write(pytester.path / "cleaned")
    fleet = fleet_file(
        pytester.path,
        [
            {"name": "eu", "profile": "prod", "snapshot": str(DEMO)},
            {"name": "cleaned", "profile": "prod", "snapshot": str(path)},
        ],
    )
    table = by_cluster(run_suite(pytester, f"--fleet={fleet}", profile=None))
    assert table["eu"]["test_waiver_in_use[PLAT-2204]"] == "passed"
    assert table["cleaned"]["test_waiver_in_use[PLAT-2204]"] == "failed"
    # The other waivers cover the same failures in both clusters.
    for ticket in ("PLAT-2201", "PLAT-2202"):
        assert (
            table["eu"][f"test_waiver_in_use[{ticket}]"]
            == table["cleaned"][f"test_waiver_in_use[{ticket}]"]
            == "passed"
        )


@pytest.mark.parametrize(
    ("clusters", "problem"),
    [
        (
            [{"name": "eu", "profile": "prod", "snapshot": "x", "colour": "red"}],
            r"fleet\.yaml:\d+: clusters\[0\]\.colour: unknown key",
        ),
        (
            [
                {"name": "eu", "profile": "prod", "snapshot": str(DEMO)},
                {"name": "eu", "profile": "prod", "snapshot": str(DEMO)},
            ],
            "cluster names must be distinct: eu",
        ),
        (
            [{"name": "EU!", "profile": "prod", "snapshot": str(DEMO)}],
            r"clusters\[0\]\.name: 'EU!' is not a valid name here",
        ),
        ([{"name": "eu", "profile": "prod", "snapshot": str(DEMO), "context": "c"}], "cannot be combined with context"),
        ([{"name": "eu", "profile": "nosuch", "snapshot": str(DEMO)}], "fleet cluster eu: profile nosuch"),
        (
            [{"name": "eu", "profile": "prod", "snapshot": "/nonexistent"}],
            "fleet cluster eu: --snapshot: no such directory",
        ),
        ([], r"clusters: List should have at least 1 item"),
    ],
    ids=[
        "unknown-key",
        "duplicate-names",
        "bad-name",
        "snapshot-and-context",
        "unknown-profile",
        "no-snapshot",
        "empty",
    ],
)
def test_bad_fleet_file_is_one_message_and_exit_3(
    pytester: pytest.Pytester, clusters: list[dict[str, Any]], problem: str
) -> None:
    fleet = fleet_file(pytester.path, clusters)
    run = run_suite(pytester, f"--fleet={fleet}", profile=None)
    assert run.result.ret == 3, run.result.stdout.str()
    errors = run.result.stderr.str()
    assert re.search(problem, errors), errors
    assert "Traceback" not in errors + run.result.stdout.str()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--profile=prod", "--profile=prod", f"--snapshot={DEMO}"], "several clusters would be named prod"),
        (
            ["--profile=prod", "--profile=staging", f"--snapshot={DEMO}", f"--snapshot={DEMO}", f"--snapshot={DEMO}"],
            "--snapshot is given 3 times for 2 profiles",
        ),
        (["--fleet=profiles/fleets/254carbon-demo.yaml", "--profile=prod"], "cannot be combined with --profile"),
        (["--fleet=profiles/fleets/254carbon-demo.yaml", f"--snapshot={DEMO}"], "cannot be combined with --snapshot"),
        (["--fleet=nosuch.yaml"], "fleet .*nosuch.yaml: 1 problem\n  no such file"),
    ],
    ids=["same-name", "snapshot-count", "fleet-and-profile", "fleet-and-snapshot", "no-fleet-file"],
)
def test_bad_fleet_options_are_one_message_and_exit_3(pytester: pytest.Pytester, args: list[str], problem: str) -> None:
    fixed = [a.replace("profiles/fleets/", f"{ROOT}/profiles/fleets/") for a in args]
    run = run_suite(pytester, *fixed, profile=None)
    assert run.result.ret == 3, run.result.stdout.str()
    assert re.search(problem, run.result.stderr.str()), run.result.stderr.str()


def test_settle_and_hold_are_per_cluster_not_per_fleet(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--fleet={ROOT}/profiles/fleets/254carbon-demo.yaml", "--hold=1m", profile=None)
    assert run.result.ret == 3
    assert "--hold waits on one cluster after its deploy; run it per cluster" in run.result.stderr.str()


def test_bundled_demo_fleet(pytester: pytest.Pytester) -> None:
    """The README's fleet example: prod passes, staging's smaller footprint does not match prod's snapshot."""
    run = run_suite(pytester, f"--fleet={ROOT}/profiles/fleets/254carbon-demo.yaml", "-n", "2", profile=None)
    assert run.result.ret == 1
    table = by_cluster(run)
    assert "failed" not in table["prod"].values()
    assert sorted(n for n, v in table["staging"].items() if v == "failed") == [
        "test_nodes[count]",
        "test_workload_ready[kong/Deployment/kong]",
    ]


@pytest.fixture
def two_servers(demo: Snapshot, tmp_path: Path) -> Iterator[tuple[KubeApiServer, KubeApiServer]]:
    """Two Kubernetes API test servers: eu serves the demo, us the demo with Kong's Deployment gone."""
    broken = Snapshot(demo.files)
    broken.remove(*BROKEN_WORKLOAD)
    eu = KubeApiServer.from_snapshot(DEMO, token=KUBE_TOKEN)
    us = KubeApiServer.from_snapshot(broken.write(tmp_path / "us"), token=KUBE_TOKEN)
    eu.start()
    us.start()
    try:
        yield eu, us
    finally:
        eu.stop()
        us.stop()


def test_live_fleet_collects_each_cluster_once_in_parallel(
    pytester: pytest.Pytester, two_servers: tuple[KubeApiServer, KubeApiServer]
) -> None:
    eu, us = two_servers
    profile = live_prod_profile(pytester.path, drop_services=True)
    configs = {
        name: server.write_kubeconfig(pytester.path / f"{name}.kubeconfig", context=name)
        for name, server in (("eu", eu), ("us", us))
    }
    fleet = fleet_file(
        pytester.path, [{"name": n, "profile": str(profile), "kubeconfig": str(c)} for n, c in configs.items()]
    )
    run = run_suite(pytester, f"--fleet={fleet}", "-n", "2", profile=None)
    assert run.result.ret == 1, run.result.stdout.str()
    table = by_cluster(run)
    assert "failed" not in table["eu"].values()
    assert "error" not in table["eu"].values()
    assert table["us"]["test_workload_ready[kong/Deployment/kong]"] == "failed"
    assert "error" not in table["us"].values()
    # One paged list of pods per cluster, each from that cluster's own API server.
    for server in (eu, us):
        assert len([r for r in server.requests if r.path == "/api/v1/pods" and "continue" not in r.query]) == 1
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert {c["cluster"]["server"] for c in manifest["clusters"].values()} == {eu.url, us.url}
    for path in run.run_dir.rglob("*"):
        if path.is_file():
            assert KUBE_TOKEN not in path.read_text(errors="replace"), path


def test_drift_between_fleet_runs_is_per_cluster(pytester: pytest.Pytester, demo: Snapshot) -> None:
    """Nightly over a fleet: --compare-latest --gate=new fails only on what is new, in whichever cluster."""
    broken = Snapshot(demo.files)
    broken.remove(*BROKEN_WORKLOAD)
    us = str(broken.write(pytester.path / "us"))

    def nightly(eu: str, *args: str) -> SuiteRun:
        clusters = [
            {"name": "eu", "profile": "prod", "snapshot": eu},
            {"name": "us", "profile": "prod", "snapshot": us},
        ]
        return run_suite(pytester, f"--fleet={fleet_file(pytester.path, clusters)}", *args, profile=None)

    assert nightly(str(DEMO)).result.ret == 1  # us fails: the baseline
    again = nightly(str(DEMO), "--compare-latest", "--gate=new")
    assert again.result.ret == 0, again.result.stdout.str()  # the same failures, nothing new
    drift = json.loads((again.run_dir / "drift.json").read_text())
    assert drift["counts"]["new"] == 0
    assert drift["counts"]["unchanged"] >= 1
    # Kong breaks in eu too: new, and named with its cluster.
    third = nightly(us, "--compare-latest", "--gate=new")
    assert third.result.ret == 1, third.result.stdout.str()
    new = json.dumps(json.loads((third.run_dir / "drift.json").read_text())["new"])
    assert "test_workload_ready[eu:kong/Deployment/kong]" in new
    assert "[us:" not in new


def test_each_cluster_is_released_after_its_checks_and_reordering_is_an_error_not_a_verdict(
    pytester: pytest.Pytester, three_clusters: Path
) -> None:
    """A fleet keeps one cluster's objects at a time. Checks reordered across clusters (a shuffling plugin)
    cannot silently judge a released cluster: they end as errors that say why."""
    pytester.makepyfile(
        interleave="""
        import pytest

        @pytest.hookimpl(wrapper=True)
        def pytest_collection_modifyitems(items):
            yield
            items.sort(key=lambda item: item.name.split("[")[0])  # eu, us, ap, eu, us, ap, ...
        """
    )
    ordered = by_cluster(run_suite(pytester, f"--fleet={three_clusters}", profile=None))
    run = run_suite(pytester, f"--fleet={three_clusters}", "-p", "interleave", profile=None)
    shuffled = by_cluster(run)
    assert shuffled.keys() == ordered.keys()
    released = [o.message for o in run.outcomes.values() if "was released" in o.message]
    assert released, run.result.stdout.str()
    assert all("do not reorder them" in message for message in released)
    # Nothing judged wrongly: every verdict is the ordered run's, or an error.
    for cluster, verdicts in shuffled.items():
        for name, verdict in verdicts.items():
            assert verdict in (ordered[cluster][name], "error"), (cluster, name, verdict)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "apiVersion: conformance/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nclusterz: []\n",
            ":4: clusterz: unknown key; did you mean clusters?",
        ),
        (
            "apiVersion: conformance/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nclusters:\n"
            "  - {name: eu, profile: prod, snapshott: x}\n",
            ":5: clusters[0].snapshott: unknown key; did you mean snapshot?",
        ),
        ("apiVersion: conformance/v1alpha1\nkind: Fleet\nclusters: [{name: eu}\n", ":4:1: not valid YAML: "),
        ("- eu\n- us\n", ":1: expected a mapping with apiVersion, kind and metadata"),
    ],
    ids=["unknown-key", "unknown-cluster-key", "yaml-syntax", "not-a-mapping"],
)
def test_each_fleet_problem_names_its_file_and_line(text: str, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(FleetError) as caught:
        load_fleet(path)
    assert any(p.startswith(f"{path}{problem}") for p in caught.value.problems), caught.value.problems
