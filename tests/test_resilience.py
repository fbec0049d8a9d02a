"""Resilience of a live run: retries reported, a total budget, stalled peers bounded, one failure blocking nothing."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
import urllib3
import yaml

from conformance.cluster.live import KubeClient, load_target
from conformance.cluster.resources import PODS
from conformance.cluster.state import ResourceStats
from conformance.errors import SourceError
from conformance.gate import BAD_INPUT, NOT_EVALUATED
from conformance.profile.model import Collection
from conformance.transport import (
    Deadline,
    OutOfBudget,
    Transport,
    Unreachable,
    retry_after,
    short_reasons,
    summarize,
)

from conftest import DEMO, SuiteRun, live_prod_profile, run_suite
from kafkabroker import free_port
from kubeapi import KubeApiServer, write_kubeconfig
from payloads import PayloadServer
from tlsfront import TlsFront, certificates

TOKEN = "resilience-token-4c1d9a"
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
# Their waivers cover workload_ready checks, which cannot be judged when pods cannot be read.
POD_WAIVERS = ("test_waiver_in_use[PLAT-2201]", "test_waiver_in_use[PLAT-2202]")
# A few checks that read pods and a few that do not: enough to show one resource failing alone, and quick.
SOME_CHECKS = (
    "test_no_failing_pods or test_namespace_pod_count or test_nodes or test_job_completed or test_namespace_labels"
)


@pytest.fixture
def server() -> Iterator[KubeApiServer]:
    api = KubeApiServer.from_snapshot(DEMO, token=TOKEN)
    api.start()
    try:
        yield api
    finally:
        api.stop()


class StalledPeer:
    """A TCP peer that accepts connections and never answers: a hung process behind a live socket."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(connection)

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.address[1]}"

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for connection in self._accepted:
            connection.close()


def kubernetes_profile(directory: Path, **collection: object) -> Path:
    """prod's Kubernetes expectations (waivers renewed) with these collection settings."""
    path = live_prod_profile(directory, "resilience", drop_services=True)
    document = yaml.safe_load(path.read_text())
    document["collection"] = collection
    path.write_text(yaml.safe_dump(document))
    return path


def services_profile(directory: Path, services_yaml: str) -> Path:
    """prod for a live run today, with some services reached differently."""
    base = live_prod_profile(directory)
    path = directory / "services.yaml"
    path.write_text(
        "apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: services}\n"
        f"extends: {base}\nservices:\n{services_yaml}"
    )
    return path


def live(pytester: pytest.Pytester, api: KubeApiServer, profile: Path, *args: str) -> SuiteRun:
    kubeconfig = api.write_kubeconfig(pytester.path / "kubeconfig")
    return run_suite(pytester, f"--kubeconfig={kubeconfig}", *args, profile=str(profile))


def collected_seconds(run: SuiteRun, source: str) -> float:
    """How long collecting one source took, from the run's progress line (`collected pods: ..., 4.01s`)."""
    match = re.search(rf"^collected {re.escape(source)}: .*, ([0-9.]+)s$", run.result.stdout.str(), re.MULTILINE)
    assert match, run.result.stdout.str()
    return float(match.group(1))


def assert_only_these_errored(run: SuiteRun, prefixes: tuple[str, ...], reason: str, passed: int = 15) -> None:
    """Checks whose names start with `prefixes` errored with `reason`; every other check passed or was waived."""
    outcomes = run.outcomes
    errored = {name: o for name, o in outcomes.items() if o.outcome == "error"}
    readers = {name for name in outcomes if name.startswith(prefixes)}
    assert readers
    assert set(errored) == readers, sorted(errored)
    assert all(reason in o.message for name, o in errored.items() if name not in POD_WAIVERS), errored
    assert all(o.outcome in ("passed", "waived") for name, o in outcomes.items() if name not in errored)
    assert sum(o.outcome == "passed" for o in outcomes.values()) >= passed


# ------------------------------------------------------------------------------------------ the API server


def test_429_several_times_then_200_passes_and_the_retries_are_reported(
    server: KubeApiServer, pytester: pytest.Pytester
) -> None:
    server.inject(r"^/api/v1/pods$", 429, times=2, retry_after=1)
    run = live(pytester, server, kubernetes_profile(pytester.path))
    assert run.result.ret == 0, run.result.stdout.str()
    assert [r.status for r in server.requests if r.path == "/api/v1/pods"] == [429, 429, 200]
    run.result.stdout.fnmatch_lines(["collection: pods needed 2 retries (429)"])
    assert "collection: nodes" not in run.result.stdout.str()  # only what was retried is listed
    report = (run.run_dir / "report.html").read_text()
    assert "pods: 2 retries after 429 Too Many Requests" in report
    assert "profile collection.budget" in report


def test_never_ending_429_is_an_error_within_the_budget(server: KubeApiServer, pytester: pytest.Pytester) -> None:
    server.inject(r"^/api/v1/pods$", 429, retry_after=1)
    began = time.monotonic()
    run = live(pytester, server, kubernetes_profile(pytester.path, retries=20), "--budget=5s", "-k", SOME_CHECKS)
    elapsed = time.monotonic() - began
    assert_only_these_errored(run, POD_READERS, "pods: the collection budget of 5s ran out", passed=5)
    message = run.outcomes["test_no_failing_pods[monitoring]"].message
    assert "429 Too Many Requests, Retry-After 1s but" in message
    assert "4 retries after 429 Too Many Requests" in message
    assert run.result.ret == NOT_EVALUATED
    # Retry-After 1s: attempts at 0, 1, 2, 3, 4s; the fifth wait would end past the budget, so it ends at ~4s.
    assert 3.5 <= collected_seconds(run, "pods") < 5.0
    pods = [r.at for r in server.requests if r.path == "/api/v1/pods"]
    assert len(pods) == 5
    assert pods[-1] - pods[0] < 5.0
    run.result.stdout.fnmatch_lines(
        ["collection: pods needed 4 retries (429)", "collection: pods gave up: the budget of 5s ran out"]
    )
    report = (run.run_dir / "report.html").read_text()
    assert "5s (--budget)" in report
    assert elapsed < 60  # the run itself, pytest start-up and reports included


def test_revoked_list_permission_is_an_error_naming_the_resource(
    server: KubeApiServer, pytester: pytest.Pytester
) -> None:
    server.inject(r"^/api/v1/pods$", 403)
    run = live(pytester, server, kubernetes_profile(pytester.path), "-k", SOME_CHECKS)
    assert_only_these_errored(run, POD_READERS, 'pods: forbidden: pods is forbidden: User "', passed=5)
    assert (
        'cannot list resource "pods" in API group "" at the cluster scope'
        in run.outcomes["test_no_failing_pods[monitoring]"].message
    )
    for text in (run.result.stdout.str(), (run.run_dir / "junit.xml").read_text()):
        assert "0 failing" not in text
    assert run.result.ret == NOT_EVALUATED
    assert [r.status for r in server.requests if r.path == "/api/v1/pods"] == [403]  # a denial is not retried


def test_stalled_api_server_is_an_error_within_the_read_timeout(
    server: KubeApiServer, pytester: pytest.Pytester
) -> None:
    server.delay(r"^/api/v1/nodes$", 30)
    profile = kubernetes_profile(pytester.path, read_timeout="2s", retries=0)
    run = live(pytester, server, profile, "-k", "test_nodes")
    outcomes = run.outcomes
    assert outcomes
    assert all(o.outcome == "error" for o in outcomes.values())
    assert all("nodes: cannot reach the API server at" in o.message for o in outcomes.values())
    assert all("no answer within the read timeout of 2s" in o.message for o in outcomes.values())
    assert 1.9 <= collected_seconds(run, "nodes") < 3.0


def test_one_stalled_resource_never_blocks_the_others(server: KubeApiServer, pytester: pytest.Pytester) -> None:
    """pods stalls (longer than its read timeout and the budget): everything else is judged, in time."""
    server.delay(r"^/api/v1/pods$", 60)
    # Every check but workload_ready (and the waivers of two of them): all other areas are there, and fewer
    # errors keep the run short (each re-raise of the one stored error lengthens its traceback).
    selection = "not test_workload_ready and not test_waiver_in_use"
    run = live(pytester, server, kubernetes_profile(pytester.path), "--budget=4s", "-k", selection)
    assert_only_these_errored(run, POD_READERS, "pods: the collection budget of 4s ran out")
    assert "no answer in time (read timeout)" in run.outcomes["test_no_failing_pods[monitoring]"].message
    assert 3.9 <= collected_seconds(run, "pods") < 5.0
    assert collected_seconds(run, "nodes") < 2.0
    report = (run.run_dir / "report.html").read_text()
    assert "Collection budget ran out for" in report


# ---------------------------------------------------------------------------------------------- services


@pytest.mark.parametrize("access", ["url", "port-forward"])
def test_stalled_service_is_an_error_within_its_timeout(
    access: str, server: KubeApiServer, pytester: pytest.Pytester
) -> None:
    with StalledPeer() as peer:
        if access == "url":
            service, checks = "grafana", "test_grafana"
            setting = f"  grafana: {{access: {{url: '{peer.url}', timeout: 2s, retries: 0}}}}\n"
            reason = f"grafana: cannot reach {peer.url} (no answer within the read timeout of 2s)"
        else:
            service, checks = "istio", "test_proxies_synced or test_expected_proxies or test_sidecars"
            server.register_port_forward("istio-system", "istiod-84bbcb5b7-6rdw5", 15014, peer.address)
            setting = (
                "  istio: {access: {port_forward: {namespace: istio-system, service: istiod, port: 15014}, "
                "timeout: 2s, retries: 0}}\n"
            )
            reason = "no complete HTTP response within 2s (0 bytes received from the pod)"
        run = live(pytester, server, services_profile(pytester.path, setting), "-k", checks)
        assert peer.connections >= 1  # the peer was reached, then said nothing
    outcomes = run.outcomes
    assert outcomes
    assert all(o.outcome == "error" and reason in o.message for o in outcomes.values()), outcomes
    assert 1.9 <= collected_seconds(run, service) < 3.0
    assert run.result.ret == NOT_EVALUATED


# ------------------------------------------------------------------------------------ the client directly


def test_a_peer_trickling_its_body_is_cut_at_the_budget() -> None:
    """Each read is within the read timeout, but the whole answer never comes: the budget ends it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.wait(0.2):
                try:
                    connection.sendall(b"x")
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        transport = Transport(urllib3.PoolManager(retries=False), urllib3.Timeout(connect=2, read=10), 0)
        transport.deadline = Deadline(1.5)
        began = time.monotonic()
        with pytest.raises(OutOfBudget) as caught:
            transport.get(f"http://127.0.0.1:{listener.getsockname()[1]}/", {})
        assert time.monotonic() - began < 2.5
        assert "the collection budget of 1.5s ran out" in str(caught.value)
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def test_client_without_retries_left_reports_the_last_answer(server: KubeApiServer, tmp_path: Path) -> None:
    server.inject(r"^/api/v1/pods$", 503)
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    client = KubeClient(load_target(str(kubeconfig), None), Collection(retries=2), sleep=lambda _: None)
    stats = ResourceStats()
    with pytest.raises(SourceError) as caught:
        client.list(PODS, stats)
    assert str(caught.value).startswith("pods: HTTP 503")
    assert str(caught.value).endswith("(after 2 retries)")
    assert stats.requests == 3
    assert stats.retries == 2
    assert client.retry_log.snapshot() == {"pods": ("503 Service Unavailable",) * 2}


def test_retry_reasons_and_retry_after_forms() -> None:
    assert summarize(["429 Too Many Requests"] * 2) == "2 retries after 429 Too Many Requests"
    mixed = ["503 Service Unavailable", "read timeout", "503 Service Unavailable"]
    assert summarize(mixed) == "3 retries (2 after 503 Service Unavailable, 1 after read timeout)"
    assert short_reasons(["429 Too Many Requests"]) == "429"
    assert short_reasons(mixed) == "2× 503, 1× read timeout"
    assert retry_after("3") == 3.0
    assert retry_after("soon") is None
    assert retry_after(None) is None
    now = datetime(2025, 11, 4, 12, 0, 0, tzinfo=UTC)
    assert retry_after("Tue, 04 Nov 2025 12:00:07 GMT", lambda: now) == 7.0
    assert retry_after("Tue, 04 Nov 2025 11:59:00 GMT", lambda: now) == 0.0


# ------------------------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("value", "reason"),
    [("soon", "'soon' is not a duration"), ("0s", "'0s' leaves no time"), ("-5m", "'-5m' is not a duration")],
)
def test_a_bad_budget_is_bad_input_naming_the_flag(value: str, reason: str, pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--budget={value}", f"--snapshot={DEMO}")
    assert run.result.ret == BAD_INPUT
    run.result.stderr.fnmatch_lines([f"ERROR: --budget: {reason}*"])
    assert "Traceback" not in run.result.stderr.str() + run.result.stdout.str()


# ------------------------------------------------------------------------- an API server that cannot be used


def grafana_by_url(directory: Path, url: str) -> Path:
    """prod for a live run today, with Grafana reached by URL (no API server needed) and Kafka refused at once."""
    return services_profile(
        directory,
        f"  grafana: {{access: {{url: '{url}'}}}}\n  kafka: {{bootstrap: '127.0.0.1:{free_port()}', timeout: 1s}}\n",
    )


def test_refused_api_server_is_found_once_and_every_check_needing_it_errors_within_seconds(
    pytester: pytest.Pytester,
) -> None:
    """Nothing listens at the API server's address: one probe says so, checks reading the cluster (or reaching a
    service through it) could not evaluate, each naming the real cause; a service reached by URL is still judged."""
    server = f"https://127.0.0.1:{free_port()}"
    kubeconfig = write_kubeconfig(pytester.path / "kubeconfig", server, TOKEN)
    with PayloadServer() as grafana:
        grafana.route("/api/search?type=dash-db", (DEMO / "grafana" / "search.json").read_bytes())
        profile = grafana_by_url(pytester.path, grafana.url)
        began = time.monotonic()
        run = run_suite(pytester, f"--kubeconfig={kubeconfig}", profile=str(profile))
        elapsed = time.monotonic() - began
    outcomes = run.outcomes
    assert outcomes["test_grafana_dashboards[dashboards]"].outcome == "passed"
    errored = {name: o for name, o in outcomes.items() if o.outcome == "error"}
    assert set(errored) == set(outcomes) - {"test_grafana_dashboards[dashboards]"}
    cause = f"cannot reach the API server at {server} (connection refused)"
    kafka = {"test_kafka_brokers[brokers]", "test_kafka_topics[topics]"}
    assert all("Connection refused" in errored[name].message for name in kafka)
    waivers = {name for name in errored if name.startswith("test_waiver_in_use[")}
    assert all(cause in o.message for name, o in errored.items() if name not in kafka | waivers), errored
    assert "needs the API server" in errored["test_kong_admin_api[kong-admin]"].message
    assert run.result.ret == NOT_EVALUATED
    text = run.result.stdout.str() + run.result.stderr.str()
    for wrong in ("connect timeout", "attempts", "Traceback"):
        assert wrong not in text, wrong
    # One line says why, in the terminal summary; the API server was asked once, not once per resource.
    said = [line for line in run.result.stdout.lines if line.startswith("collection: ")]
    assert said == [f"collection: {cause}: nothing was read through it"], said
    assert elapsed < 20, elapsed


class FullBacklog:
    """A listener whose backlog is full: the kernel drops further SYNs, so a connect to it never completes."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=0)
        self.port = int(self._listener.getsockname()[1])
        self._fillers: list[socket.socket] = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        for sock in (*self._fillers, self._listener):
            sock.close()


def tls_kubeconfig(directory: Path, url: str, ca: Path) -> Path:
    """A kubeconfig for `url` that trusts `ca`."""
    kubeconfig = write_kubeconfig(directory / "kubeconfig", url, TOKEN)
    config = json.loads(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["certificate-authority"] = str(ca)
    kubeconfig.write_text(json.dumps(config))
    return kubeconfig


@pytest.mark.parametrize("problem", ["unresolvable", "connect-timeout", "tls-mismatch", "unauthorized", "forbidden"])
def test_an_api_server_that_cannot_be_used_is_said_once_with_its_cause(
    problem: str, server: KubeApiServer, pytester: pytest.Pytester
) -> None:
    with contextlib.ExitStack() as stack:
        if problem == "unresolvable":
            url = "https://kube-api.nowhere.invalid:6443"
            kubeconfig = write_kubeconfig(pytester.path / "kubeconfig", url, TOKEN)
            cause = f"cannot reach the API server at {url} (DNS name kube-api.nowhere.invalid not resolved"
        elif problem == "connect-timeout":
            url = f"https://127.0.0.1:{stack.enter_context(FullBacklog()).port}"
            kubeconfig = write_kubeconfig(pytester.path / "kubeconfig", url, TOKEN)
            cause = f"cannot reach the API server at {url} (no connection within the connect timeout of 1s)"
        elif problem == "tls-mismatch":
            ca, cert, key = certificates(pytester.path, "kubernetes.default")
            front = TlsFront(server.port, cert, key)
            stack.callback(front.close)
            url = f"https://127.0.0.1:{front.port}"
            kubeconfig = tls_kubeconfig(pytester.path, url, ca)
            cause = f"cannot reach the API server at {url} (TLS verification failed: certificate verify failed: "
        elif problem == "unauthorized":
            kubeconfig = write_kubeconfig(pytester.path / "kubeconfig", server.url, "not-the-token")
            cause = f"the API server at {server.url} rejected the credentials (401 Unauthorized on GET /version)"
        else:
            server.inject(r"^/version$", 403)
            kubeconfig = server.write_kubeconfig(pytester.path / "kubeconfig")
            cause = f"the API server at {server.url} forbids GET /version (403 Forbidden: forbidden: User "
        profile = kubernetes_profile(pytester.path, connect_timeout="1s", retries=4)
        began = time.monotonic()
        run = run_suite(pytester, f"--kubeconfig={kubeconfig}", "-k", "test_nodes", profile=str(profile))
        elapsed = time.monotonic() - began
    outcomes = run.outcomes
    assert len(outcomes) == 4
    assert all(o.outcome == "error" and cause in o.message for o in outcomes.values()), outcomes
    assert run.result.ret == NOT_EVALUATED
    said = [line for line in run.result.stdout.lines if line.startswith("collection: ")]
    assert len(said) == 1, said
    assert cause in said[0], said
    assert "attempts" not in run.result.stdout.str()
    if problem in ("unauthorized", "forbidden"):
        assert [r.path for r in server.requests if r.path != "/version"] == [], "nothing asked after the probe"
    assert elapsed < 15, elapsed  # asked once: no retry waits, no request per resource


@pytest.mark.parametrize("problem", ["refused", "unresolvable", "tls-mismatch", "connect-timeout"])
def test_unreachable_names_the_real_cause(problem: str, tmp_path: Path, server: KubeApiServer) -> None:
    """urllib3's NewConnectionError subclasses ConnectTimeoutError: the cause is read from the error's chain."""
    pool = urllib3.PoolManager(retries=False, cert_reqs="CERT_REQUIRED")
    with contextlib.ExitStack() as stack:
        if problem == "refused":
            url, expected = f"http://127.0.0.1:{free_port()}/version", "connection refused"
        elif problem == "unresolvable":
            url = "https://kube-api.nowhere.invalid:6443/version"
            expected = "DNS name kube-api.nowhere.invalid not resolved"
        elif problem == "tls-mismatch":
            ca, cert, key = certificates(tmp_path, "kubernetes.default")
            front = TlsFront(server.port, cert, key)
            stack.callback(front.close)
            pool = urllib3.PoolManager(retries=False, cert_reqs="CERT_REQUIRED", ca_certs=str(ca))
            url = f"https://127.0.0.1:{front.port}/version"
            expected = "TLS verification failed: certificate verify failed: IP address mismatch"
        else:
            url = f"http://127.0.0.1:{stack.enter_context(FullBacklog()).port}/version"
            expected = "no connection within the connect timeout of 1s"
        transport = Transport(pool, urllib3.Timeout(connect=1, read=2), 1, sleep=lambda _: None)
        with pytest.raises(Unreachable) as caught:
            transport.get(url, {})
    assert str(caught.value).startswith(expected), str(caught.value)
    assert str(caught.value).endswith("; 2 attempts")
    assert caught.value.retried == (
        {
            "refused": "connection refused",
            "unresolvable": "DNS name not resolved",
            "tls-mismatch": "TLS verification failed",
            "connect-timeout": "connect timeout",
        }[problem],
    )
