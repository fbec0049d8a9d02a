"""Live runs against a Kubernetes API server: same verdicts as the snapshot, paging, 403, 429, evidence."""

from __future__ import annotations

import fnmatch
import re
import time
from pathlib import Path

import orjson
import pytest
import yaml

from conformance.cluster.live import KubeClient, KubeconfigError, collect_live, load_target
from conformance.cluster.projection import list_decoder
from conformance.cluster.resources import KNOWN, PODS
from conformance.cluster.snapshot import parse_projected
from conformance.cluster.state import ResourceStats
from conformance.errors import SourceError
from conformance.gate import BAD_INPUT, NOT_EVALUATED
from conformance.profile.model import Collection, Profile

from conftest import DEMO, KUBE_TOKEN, SuiteRun, live_prod_profile, run_suite
from kafkabroker import free_port
from kubeapi import KubeApiServer, write_kubeconfig

TOKEN = KUBE_TOKEN  # the token of the `server` fixture (tests/conftest.py)
POD_READERS = (
    "test_no_failing_pods[",
    "test_namespace_pod_count[",
    "test_workload_ready[",
    "test_scaled_down_or_ready[",
    "test_requested_resources[",
    "test_container_resources[",
    "test_dns_ready[",
    "test_ingress_controller_ready[",
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
def test_live_run_matches_the_snapshot_run_paged_or_from_the_watch_cache(
    consistent: bool, server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    profile = paged_profile(pytester.path, consistent=consistent)
    live_run = live(pytester, kubeconfig, profile=str(profile))
    snapshot_run = run_suite(pytester, f"--snapshot={DEMO}", profile=str(profile))
    assert live_run.result.ret == 0, live_run.result.stdout.str()
    assert outcomes_of(live_run) == outcomes_of(snapshot_run)
    assert len(outcomes_of(live_run)) >= 60

    pod_lists = [r for r in server.requests if r.path == "/api/v1/pods"]
    assert all(r.query["limit"] == "7" for r in pod_lists)
    assert "continue" not in pod_lists[0].query
    if consistent:
        assert len(pod_lists) == -(-80 // 7)  # ceil(80 / 7) pages, one list
        assert all("continue" in r.query for r in pod_lists[1:])
        assert all("resourceVersion" not in r.query for r in pod_lists)
    else:
        # The watch cache ignores limit at resourceVersion=0: one response with every pod, as a real server.
        assert len(pod_lists) == 1
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
    # Consistent reads page; a resourceVersion=0 list would be one response whatever the limit.
    client = KubeClient(load_target(str(kubeconfig), None), Collection(page_size=5, consistent_reads=True))
    stats = ResourceStats()
    items, api_version = client.list(PODS, stats)
    assert api_version == "v1"
    assert len(items) == 80
    assert len({(p["metadata"]["namespace"], p["metadata"]["name"]) for p in items}) == 80
    assert stats.requests == 16


def test_expired_continue_token_restarts_the_list(server: KubeApiServer, kubeconfig: Path) -> None:
    client = KubeClient(load_target(str(kubeconfig), None), Collection(page_size=30, consistent_reads=True))
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


@pytest.mark.parametrize("consistent", [False, True], ids=["watch-cache", "consistent"])
def test_one_list_per_kind_paged_or_from_the_watch_cache(
    consistent: bool, server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    run = live(pytester, kubeconfig, profile=str(paged_profile(pytester.path, page_size=7, consistent=consistent)))
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
        assert "continue" not in queries[0]
        assert all(q["limit"] == "7" for q in queries), path
        if consistent:  # one list per kind per run: its first page, then its continue tokens only
            assert len(queries) == (max(1, -(-items // 7)) if paged else 1), path
            assert all("resourceVersion" not in q for q in queries), path
            assert all("continue" in q for q in queries[1:]), path
        else:  # one request per kind: the watch cache answers resourceVersion=0 whole, ignoring limit
            assert queries == [{"limit": "7", "resourceVersion": "0", "resourceVersionMatch": "NotOlderThan"}], path
    assert not any("/namespaces/" in r.path and r.method == "GET" for r in server.requests if "/proxy" not in r.path)
    run.result.stdout.fnmatch_lines([f"collected pods: 80 objects, {12 if consistent else 1} requests, *"])


def test_a_long_list_reports_its_progress_while_it_runs(server: KubeApiServer, kubeconfig: Path) -> None:
    server.delay(r"^/api/v1/pods$", 1.0)  # every page of pods waits a second: the list takes 4s
    profile = Profile.model_validate(
        {
            "apiVersion": "conformance/v1alpha1",
            "kind": "Profile",
            "metadata": {"name": "slow"},
            "collection": {"page_size": 20, "consistent_reads": True},
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


CONTEXTS = '{"name": "one", "context": {"cluster": "one", "user": "one"}}'
KUBECONFIG_PROBLEMS = {
    "plain-text": (
        "just some words\n",
        ": line 1: not a kubeconfig: plain text, not a YAML mapping of clusters, contexts",
    ),
    "a-list": ("- one\n- two\n", ": line 1: not a kubeconfig: a list, not a YAML mapping of clusters, contexts"),
    "empty": ("", ": the file is empty"),
    "only-comments": ("# nothing here\n", ": the file is empty"),
    "yaml-syntax": ("apiVersion: v1\nclusters: [}\n", ": line 2, column 12: not valid YAML: "),
    "no-contexts": (
        "apiVersion: v1\nkind: Config\n",
        ": no contexts defined",
    ),
    "no-current-context": (
        f'{{"apiVersion": "v1", "contexts": [{CONTEXTS}]}}',
        ": no current-context, and no --kube-context chose one (available: one)",
    ),
    "current-context-unknown": (
        f'{{"apiVersion": "v1", "contexts": [{CONTEXTS}], "current-context": "two"}}',
        ": current-context 'two' is not one of its contexts (available: one)",
    ),
    "contexts-not-a-list": ('{"contexts": "one"}', ": contexts: expected a list of named contexts"),
}


@pytest.mark.parametrize("case", sorted(KUBECONFIG_PROBLEMS))
def test_a_kubeconfig_that_is_not_one_says_what_is_wrong_and_where(case: str, tmp_path: Path) -> None:
    text, problem = KUBECONFIG_PROBLEMS[case]
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(KubeconfigError) as caught:
        load_target(str(path), None)
    assert str(caught.value).startswith(f"kubeconfig {path}{problem}"), str(caught.value)


def test_a_missing_kubeconfig_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError) as caught:
        load_target(str(tmp_path / "nowhere"), None)
    assert str(caught.value) == f"kubeconfig {tmp_path / 'nowhere'}: no such file"


@pytest.mark.parametrize("case", ["plain-text", "empty", "missing"])
def test_a_bad_kubeconfig_is_one_error_line_and_exit_3(case: str, tmp_path: Path, pytester: pytest.Pytester) -> None:
    path = tmp_path / "kubeconfig"
    if case != "missing":
        path.write_text(KUBECONFIG_PROBLEMS[case][0])
    run = run_suite(pytester, f"--kubeconfig={path}")
    assert run.result.ret == BAD_INPUT
    errors = [line for line in run.result.stderr.lines if line.startswith("ERROR")]
    expected = {
        "plain-text": f"ERROR: kubeconfig {path}: line 1: not a kubeconfig: plain text, *",
        "empty": f"ERROR: kubeconfig {path}: the file is empty*",
        "missing": f"ERROR: kubeconfig {path}: no such file (give --kubeconfig=PATH, or --snapshot=DIR *",
    }[case]
    assert len(errors) == 1, errors
    assert fnmatch.fnmatch(errors[0], expected), errors
    assert "item assignment" not in errors[0]
    assert "Traceback" not in run.result.stderr.str() + run.result.stdout.str()
    assert not (pytester.path / "reports").exists()


def capture(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.run("python", "-m", "conformance", "capture", *args)


def test_capture_of_an_unreachable_cluster_captures_nothing_and_says_why(pytester: pytest.Pytester) -> None:
    server = f"https://127.0.0.1:{free_port()}"
    config = write_kubeconfig(pytester.path / "kubeconfig", server, TOKEN)
    out = pytester.path / "captured"
    began = time.monotonic()
    done = capture(pytester, f"--kubeconfig={config}", f"--out={out}")
    assert time.monotonic() - began < 15
    assert done.ret == NOT_EVALUATED
    errors = done.stderr.str()
    assert f"error: nothing captured: cannot reach the API server at {server} (connection refused)" in errors
    assert "wrote" not in done.stdout.str()
    assert not out.exists()
    assert "--snapshot" not in errors + done.stdout.str()


def test_capture_of_part_of_a_cluster_names_what_it_could_not_read(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    server.inject(r"^/api/v1/pods$", 403)
    out = pytester.path / "captured"
    done = capture(pytester, f"--kubeconfig={kubeconfig}", f"--out={out}")
    assert done.ret == NOT_EVALUATED
    errors = done.stderr.str()
    assert "error: not captured: pods (forbidden: pods is forbidden: " in errors
    assert "error: captured only part of the cluster: 1 resource could not be read (pods)" in errors
    assert (out / "kubernetes" / "nodes.json").is_file()
    assert not (out / "kubernetes" / "pods.json").exists()


def test_capture_without_a_kubeconfig_suggests_only_what_capture_takes(pytester: pytest.Pytester) -> None:
    done = capture(pytester, f"--kubeconfig={pytester.path / 'nowhere'}", f"--out={pytester.path / 'captured'}")
    assert done.ret == BAD_INPUT
    assert done.stderr.str().strip() == (
        f"error: kubeconfig {pytester.path / 'nowhere'}: no such file (give --kubeconfig=PATH)"
    )
    assert "--snapshot" not in done.stderr.str()


def test_capture_with_a_bad_profile_is_one_error_line(kubeconfig: Path, pytester: pytest.Pytester) -> None:
    done = capture(pytester, f"--kubeconfig={kubeconfig}", f"--out={pytester.path / 'c'}", "--profile=nonesuch")
    assert done.ret == BAD_INPUT
    assert "profile nonesuch: 1 problem" in done.stderr.str()
    assert "Traceback" not in done.stderr.str()
