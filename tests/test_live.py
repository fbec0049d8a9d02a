"""Live runs against a Kubernetes API server: same verdicts as the snapshot, paging, 403, 429, evidence."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
import yaml

from conformance.cluster.live import KubeClient, collect_live, load_target
from conformance.cluster.projection import list_decoder
from conformance.cluster.resources import KNOWN, PODS
from conformance.cluster.snapshot import parse_projected
from conformance.cluster.state import ResourceStats
from conformance.errors import SourceError
from conformance.gate import BAD_INPUT
from conformance.profile.model import Collection, Profile

from conftest import DEMO, KUBE_TOKEN, SuiteRun, live_prod_profile, run_suite
from kubeapi import KubeApiServer

TOKEN = KUBE_TOKEN  # the token of the `server` fixture (tests/conftest.py)
POD_READERS = (
    "test_no_failing_pods[",
    "test_namespace_pod_count[",
    "test_workload_ready[",
    "test_scaled_down_or_ready[",
    "test_requested_resources[",
)


def kubernetes_profile(directory: Path, name: str = "kubernetes", **collection: object) -> Path:
    """prod's Kubernetes expectations without its services (those have their own live tests)."""
    path = live_prod_profile(directory, name, drop_services=True)
    document = yaml.safe_load(path.read_text())
    document["collection"] = collection
    path.write_text(yaml.safe_dump(document))
    return path


def paged_profile(directory: Path, page_size: int = 7, consistent: bool = False) -> Path:
    """Kubernetes checks with a small page size, so every list takes several pages."""
    return kubernetes_profile(directory, "paged", page_size=page_size, consistent_reads=consistent)


def live(pytester: pytest.Pytester, kubeconfig: Path, *args: str, profile: str | None = None) -> SuiteRun:
    chosen = profile or str(kubernetes_profile(pytester.path))
    return run_suite(pytester, f"--kubeconfig={kubeconfig}", *args, profile=chosen)


def outcomes_of(run: SuiteRun) -> dict[str, str]:
    return {name: o.outcome for name, o in run.outcomes.items()}


@pytest.mark.parametrize("consistent", [False, True], ids=["watch-cache", "consistent"])
def test_live_run_matches_the_snapshot_run_and_pages_every_list(
    consistent: bool, server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    server.watch_cache_pagination = True  # page resourceVersion=0 lists too, as servers since 1.34 do
    profile = paged_profile(pytester.path, consistent=consistent)
    live_run = live(pytester, kubeconfig, profile=str(profile))
    snapshot_run = run_suite(pytester, f"--snapshot={DEMO}", profile=str(profile))
    assert live_run.result.ret == 0, live_run.result.stdout.str()
    assert outcomes_of(live_run) == outcomes_of(snapshot_run)
    assert len(outcomes_of(live_run)) >= 60

    pod_lists = [r for r in server.requests if r.path == "/api/v1/pods"]
    assert len(pod_lists) == -(-80 // 7)  # ceil(80 / 7) pages, one list
    assert all(r.query["limit"] == "7" for r in pod_lists)
    assert "continue" not in pod_lists[0].query
    assert all("continue" in r.query for r in pod_lists[1:])
    if consistent:
        assert all("resourceVersion" not in r.query for r in pod_lists)
    else:
        assert pod_lists[0].query["resourceVersion"] == "0"
        assert pod_lists[0].query["resourceVersionMatch"] == "NotOlderThan"
    # Only reads, only what the checks need, never Secrets, never per namespace.
    # Reads only; the one POST is the SelfSubjectReview recording who the suite ran as (it changes nothing).
    posts = [r.path for r in server.requests if r.method != "GET"]
    assert posts in ([], ["/apis/authentication.k8s.io/v1/selfsubjectreviews"])
    assert not any("secrets" in r.path for r in server.requests)
    assert not any(re.match(r"/api/v1/namespaces/[^/]+/pods", r.path) for r in server.requests)
    assert all(r.has_authorization for r in server.requests)


@pytest.mark.parametrize("evidence", ["whole", "judged"])
def test_live_evidence_re_evaluates_offline_to_the_same_verdicts(
    evidence: str, server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    profile = str(kubernetes_profile(pytester.path, evidence=evidence))
    first = live(pytester, kubeconfig, profile=profile)
    directory = first.run_dir / "evidence"
    assert (directory / "meta.json").is_file()
    assert (directory / "kubernetes" / "pods.json").is_file()
    again = run_suite(pytester, f"--snapshot={directory}", profile=profile)
    assert outcomes_of(again) == outcomes_of(first)
    assert len(outcomes_of(first)) >= 60
    stored = (directory / "kubernetes" / "pods.json").read_text() + (
        directory / "kubernetes" / "deployments.apps.json"
    ).read_text()
    assert "managedFields" not in stored
    assert "last-applied-configuration" not in stored
    pods = orjson.loads((directory / "kubernetes" / "pods.json").read_bytes())["items"]
    assert len(pods) == 80
    assert all(pod["kind"] == "Pod" and pod["apiVersion"] == "v1" for pod in pods)
    images = [c.get("image") for pod in pods for c in pod["spec"]["containers"]]
    if evidence == "whole":
        assert all(images)  # whole objects, as the API server sent them (stripped)
    else:
        assert not any(images)  # only what the checks judge
        assert not any("annotations" in pod["metadata"] for pod in pods)
    for path in first.run_dir.rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(errors="replace"), path


def test_forbidden_list_is_an_error_naming_the_resource(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    server.inject(r"^/api/v1/pods$", 403)
    run = live(pytester, kubeconfig)
    seen = run.not_passed()
    expected = {name for name in run.outcomes if name.startswith(POD_READERS)}
    waivers = {"test_waiver_in_use[PLAT-2201]", "test_waiver_in_use[PLAT-2202]"}
    assert set(seen) == expected | waivers
    assert all(o.outcome == "error" and "pods: forbidden" in o.message for n, o in seen.items() if n not in waivers)
    assert all("could not be evaluated" in seen[n].message for n in waivers)
    assert "0 failing" not in run.result.stdout.str()
    assert run.result.ret != 0


def test_429_with_retry_after_is_retried_then_succeeds(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    server.inject(r"^/api/v1/pods$", 429, times=2, retry_after=1)
    run = live(pytester, kubeconfig)
    assert run.result.ret == 0
    pod_lists = [r for r in server.requests if r.path == "/api/v1/pods"]
    assert [r.status for r in pod_lists] == [429, 429, 200]
    assert pod_lists[2].at - pod_lists[0].at >= 2.0  # Retry-After honoured twice


def test_unreachable_api_server_is_an_error_for_every_check(tmp_path: Path, pytester: pytest.Pytester) -> None:
    api = KubeApiServer.from_snapshot(DEMO, token=TOKEN)
    api.start()
    config = api.write_kubeconfig(tmp_path / "kubeconfig")
    api.stop()
    profile = kubernetes_profile(tmp_path, "quick", retries=1, connect_timeout="1s", read_timeout="2s")
    run = live(pytester, config, "-k", "pods or nodes", profile=str(profile))
    outcomes = run.outcomes
    assert outcomes
    assert all(o.outcome == "error" and "cannot reach the API server" in o.message for o in outcomes.values())


def test_collector_follows_continue_tokens_to_the_last_page(server: KubeApiServer, kubeconfig: Path) -> None:
    server.watch_cache_pagination = True
    client = KubeClient(load_target(str(kubeconfig), None), Collection(page_size=5))
    stats = ResourceStats()
    items, api_version = client.list(PODS, stats)
    assert api_version == "v1"
    assert len(items) == 80
    assert len({(p["metadata"]["namespace"], p["metadata"]["name"]) for p in items}) == 80
    assert stats.requests == 16


def test_expired_continue_token_restarts_the_list(server: KubeApiServer, kubeconfig: Path) -> None:
    server.watch_cache_pagination = True
    client = KubeClient(load_target(str(kubeconfig), None), Collection(page_size=30))
    original = client.get

    def get_and_compact(path: str, query: dict[str, str], resource: str, stats: ResourceStats) -> bytes:
        body = original(path, query, resource, stats)
        if stats.requests == 1:
            server.bump_resource_version()  # etcd compacted: the first page's token is now too old
        return body

    client.get = get_and_compact  # type: ignore[method-assign]
    stats = ResourceStats()
    items, _ = client.list(PODS, stats)
    assert len(items) == 80
    statuses = [r.status for r in server.requests if r.path == "/api/v1/pods"]
    assert statuses[:2] == [200, 410]
    assert statuses.count(200) == 1 + 3  # the first page, then a fresh list of three pages


def test_crd_versions_come_from_discovery(server: KubeApiServer, kubeconfig: Path) -> None:
    client = KubeClient(load_target(str(kubeconfig), None), Collection())
    items, api_version = client.list(KNOWN["peerauthentications.security.istio.io"], ResourceStats())
    assert api_version == "security.istio.io/v1"
    assert [p["metadata"]["name"] for p in items] == ["default"]


def test_unknown_context_is_a_usage_error_listing_contexts(kubeconfig: Path, pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--kubeconfig={kubeconfig}", "--kube-context=nope")
    assert run.result.ret == BAD_INPUT
    run.result.stderr.fnmatch_lines(["ERROR: kubeconfig *: no context 'nope' (available: 254carbon-test)"])
    assert "Traceback" not in run.result.stderr.str() + run.result.stdout.str()


def test_broken_kubeconfig_is_a_usage_error(tmp_path: Path, pytester: pytest.Pytester) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nclusters: [}\n")
    run = run_suite(pytester, f"--kubeconfig={bad}")
    assert run.result.ret == BAD_INPUT
    run.result.stderr.fnmatch_lines([f"ERROR: kubeconfig {bad}: *"])
    assert "Traceback" not in run.result.stderr.str() + run.result.stdout.str()


def test_one_paged_list_per_kind_read_from_the_watch_cache(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    server.watch_cache_pagination = True
    run = live(pytester, kubeconfig, profile=str(paged_profile(pytester.path, page_size=7)))
    assert run.result.ret == 0, run.result.stdout.str()
    served = server.resource_types
    lists: dict[str, list[dict[str, str]]] = {}
    for request in server.requests:
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and ((parts[0] == "api" and len(parts) == 3) or len(parts) == 4):
            lists.setdefault(request.path, []).append(request.query)
    assert len(lists) >= 10
    for path, queries in lists.items():
        stem = next(s for s, t in served.items() if path.endswith(f"/{t.group_version}/{t.name}"))
        items = len(orjson.loads((DEMO / "kubernetes" / f"{stem}.json").read_bytes())["items"])
        paged = served[stem].paged
        # One list per kind per run: the first page from the watch cache, then its continue tokens only.
        assert len(queries) == (max(1, -(-items // 7)) if paged else 1), path
        assert [q.get("resourceVersion") for q in queries] == ["0"] + [None] * (len(queries) - 1), path
        assert queries[0]["resourceVersionMatch"] == "NotOlderThan"
        assert "continue" not in queries[0]
        assert all("continue" in q and q["limit"] == "7" for q in queries[1:]), path
    assert not any("/namespaces/" in r.path and r.method == "GET" for r in server.requests if "/proxy" not in r.path)
    run.result.stdout.fnmatch_lines(["collected pods: 80 objects, 12 requests, *"])


def test_a_long_list_reports_its_progress_while_it_runs(server: KubeApiServer, kubeconfig: Path) -> None:
    server.watch_cache_pagination = True
    server.delay(r"^/api/v1/pods$", 1.0)  # every page of pods waits a second: the list takes 4s
    profile = Profile.model_validate(
        {
            "apiVersion": "conformance/v1alpha1",
            "kind": "Profile",
            "metadata": {"name": "slow"},
            "collection": {"page_size": 20},
        }
    )
    lines: list[str] = []
    state = collect_live(load_target(str(kubeconfig), None), profile, [PODS, KNOWN["nodes"]], progress=lines.append)
    assert len(state.objects(PODS)) == 80
    during = [line for line in lines if "so far" in line]
    assert during, lines
    assert re.fullmatch(r"pods: \d+ objects so far, \d+ requests, \d+\.\ds", during[0])
    assert lines[-1].startswith("pods: 80 objects, 4 requests")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"kind":"PodList","items":[{"metadata":"pod-a"}]}', r"not a well-formed list: .*\$\.items\[0\]\.metadata"),
        (b'{"kind":"PodList","items":[{"metadata":{"namespace":"x"}}]}', r"items\[0\] has no metadata\.name"),
        (b'{"kind":"PodList","items":[', "is not valid JSON"),
        (b'{"kind":"Status","status":"Failure"}', "is not a list: it has no items array"),
    ],
    ids=["metadata-not-an-object", "no-name", "truncated", "not-a-list"],
)
def test_projected_pages_that_are_malformed_are_errors_naming_where(body: bytes, problem: str) -> None:
    with pytest.raises(SourceError, match=problem):
        parse_projected(PODS, body, "GET /api/v1/pods", list_decoder("pods"))


def test_capture_writes_whole_objects_that_judge_like_the_live_cluster(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    """`python -m conformance capture` keeps whole objects (stripped) whatever the profile's evidence setting,
    so any profile can judge the snapshot later."""
    out = pytester.path / "captured"
    done = pytester.run("python", "-m", "conformance", "capture", f"--kubeconfig={kubeconfig}", f"--out={out}")
    assert done.ret == 0, done.stderr.str()
    pods = orjson.loads((out / "kubernetes" / "pods.json").read_bytes())["items"]
    assert len(pods) == 80
    assert all(c.get("image") for pod in pods for c in pod["spec"]["containers"])
    assert "managedFields" not in (out / "kubernetes" / "pods.json").read_text()
    profile = str(kubernetes_profile(pytester.path))
    assert outcomes_of(run_suite(pytester, f"--snapshot={out}", profile=profile)) == outcomes_of(
        live(pytester, kubeconfig, profile=profile)
    )
