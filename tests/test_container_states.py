"""What on-call needs first about a failing pod: each failing container's waiting or terminated reason, exit
code and message, and how it last terminated (`lastState.terminated`: OOMKilled, exit code 137).

They travel with the culprit to the terminal's failure message, report.html, Allure and results.json,
cut to a readable length, with control characters escaped and markup shown as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from conformance.cluster.containers import MESSAGE_MAX, container_states
from conformance.cluster.projection import list_decoder

from conftest import Snapshot, run_suite

KONG_POD = "kong-884b8f4bd-sr4v7"
BACK_OFF = f"back-off 5m0s restarting failed container=proxy pod={KONG_POD}_kong(3f0f6a4e-2c4b-4e0e-9a31-6f2d1b2c9e11)"
# A termination message is whatever the container wrote (up to 4 KiB): markup, escape sequences, many lines.
OOM_MESSAGE = "<b>out of memory</b>\x1b[31m\n" + "heap dump follows " * 60
LAST_LINE = "container proxy: waiting (CrashLoopBackOff) " + BACK_OFF


def crash_loop_oom(s: Snapshot) -> None:
    pod = s.get("pods", "kong", KONG_POD)
    for status in pod["status"]["containerStatuses"]:
        if status["name"] == "proxy":
            status.update(
                ready=False,
                started=False,
                restartCount=12,
                state={"waiting": {"reason": "CrashLoopBackOff", "message": BACK_OFF}},
                lastState={
                    "terminated": {
                        "containerID": "containerd://5d1e",
                        "exitCode": 137,
                        "reason": "OOMKilled",
                        "message": OOM_MESSAGE,
                        "startedAt": "2025-10-22T03:19:12Z",
                        "finishedAt": "2025-10-22T03:24:51Z",
                    }
                },
            )
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "False"
    s.get("deployments.apps", "kong", "kong")["status"].update(readyReplicas=1, availableReplicas=1)


def test_a_failing_containers_states_reach_every_output(demo: Snapshot, pytester: pytest.Pytester) -> None:
    crash_loop_oom(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    assert run.result.ret == 1

    # The terminal: the failure message names the container, why it waits and how it last ended.
    out = run.result.stdout.str()
    assert LAST_LINE in out
    assert "last terminated (OOMKilled, exit code 137, at 2025-10-22T03:24:51Z) <b>out of memory</b>\\x1b[31m" in out
    assert "\x1b[31m" not in out  # the container's escape sequence is shown, not obeyed
    for name in ("test_no_failing_pods[kong]", "test_workload_ready[kong/Deployment/kong]"):
        assert LAST_LINE in run.outcomes[name].message, name
        assert "last terminated (OOMKilled, exit code 137" in run.outcomes[name].message, name

    # results.json: in the API's own shape, the message cut short.
    checks = {c["name"]: c for c in json.loads((run.run_dir / "results.json").read_text())["checks"]}
    (culprit,) = checks["test_no_failing_pods[kong]"]["culprits"]
    (proxy,) = culprit["containers"]
    assert proxy["name"] == "proxy"
    assert proxy["ready"] is False
    assert proxy["restartCount"] == 12
    assert proxy["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": BACK_OFF}}
    last = proxy["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"], last["finishedAt"]) == ("OOMKilled", 137, "2025-10-22T03:24:51Z")
    assert len(last["message"]) == MESSAGE_MAX
    assert last["message"].startswith("<b>out of memory</b>\\x1b[31m heap dump follows")
    assert last["message"].endswith("…")
    workload = checks["test_workload_ready[kong/Deployment/kong]"]
    assert [c["name"] for c in workload["culprits"] if c.get("containers")] == [KONG_POD]

    # report.html: under the culprit, as text.
    report = (run.run_dir / "report.html").read_text()
    failures = report[report.index('id="cf-failures"') : report.index('id="cf-waived"')]
    assert "container proxy: waiting (CrashLoopBackOff) back-off 5m0s restarting failed container=proxy" in failures
    assert "last terminated (OOMKilled, exit code 137, at 2025-10-22T03:24:51Z) &lt;b&gt;out of memory" in failures
    assert "<b>out of memory</b>" not in report

    # Allure: the description's culprit table.
    descriptions = {}
    for path in (run.run_dir / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        descriptions[result["name"]] = result.get("descriptionHtml", "")
    assert "last terminated (OOMKilled, exit code 137" in descriptions["test_no_failing_pods[kong]"]
    assert "&lt;b&gt;out of memory" in descriptions["test_no_failing_pods[kong]"]


def pod(statuses: list[dict[str, Any]], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "status": {"containerStatuses": statuses, "initContainerStatuses": init or []}}


def test_only_failing_containers_are_described() -> None:
    running = {"name": "sidecar", "ready": True, "restartCount": 3, "state": {"running": {}}}
    running["lastState"] = {"terminated": {"reason": "Error", "exitCode": 1}}
    crashed = {
        "name": "app",
        "ready": False,
        "restartCount": 4,
        "state": {"terminated": {"reason": "Error", "exitCode": 2, "signal": 9, "finishedAt": "2025-10-22T03:00:00Z"}},
    }
    unready = {"name": "web", "ready": False, "restartCount": 0, "state": {"running": {"startedAt": "x"}}}
    done = {"name": "migrate", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}
    found = container_states(pod([running, crashed, unready], [done]))
    assert [c.describe() for c in found] == [
        "container app: terminated (Error, exit code 2, signal 9, at 2025-10-22T03:00:00Z)",
        "container web: running, not ready",
    ]
    # Asked by name (a container that restarted during a hold), a ready one is described too.
    (sidecar,) = container_states(pod([running, crashed]), names={"sidecar"})
    assert sidecar.describe() == "container sidecar: running; last terminated (Error, exit code 1)"


def test_live_runs_keep_the_last_termination_of_each_container() -> None:
    status = {
        "name": "proxy",
        "ready": False,
        "restartCount": 12,
        "image": "kong:3.8",
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": BACK_OFF}},
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
    }
    page = {"kind": "PodList", "items": [{"metadata": {"name": "p"}, "status": {"containerStatuses": [status]}}]}
    decoder = list_decoder("pods")
    assert decoder is not None
    (projected,) = decoder.decode(orjson.dumps(page))["items"]
    kept = projected["status"]["containerStatuses"][0]
    assert kept["lastState"] == {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    assert kept["state"]["waiting"]["message"] == BACK_OFF
    assert "image" not in kept


def test_states_survive_the_trip_through_results_and_workers(tmp_path: Path) -> None:
    from conformance.check import Culprit
    from conformance.records import CheckRecord

    (state,) = container_states(pod([{"name": "app", "ready": False, "state": {"waiting": {"reason": "X"}}}]))
    record = CheckRecord("x::t", "t", "pods", "r", "normal", culprits=[Culprit("ns/p", "X", containers=(state,))])
    again = CheckRecord.from_dict(json.loads(json.dumps(record.as_dict())))
    assert again.culprits == record.culprits


def test_a_secret_in_a_termination_message_is_redacted(
    demo: Snapshot, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-db-password-7Qx"
    crash_loop_oom(demo)
    status = demo.get("pods", "kong", KONG_POD)["status"]["containerStatuses"]
    proxy = next(s for s in status if s["name"] == "proxy")
    proxy["lastState"]["terminated"]["message"] = f"connect postgres://kong:{secret}@kong-postgres: refused"
    monkeypatch.setenv("KONG_PG_PASSWORD", secret)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}", "--redact-env=KONG_PG_PASSWORD")
    assert run.result.ret == 1
    out = run.result.stdout.str() + run.result.stderr.str()
    assert secret not in out
    assert "escaped redaction" not in out  # redacted where the culprit is made, not by the final sweep
    assert "last terminated (OOMKilled, exit code 137" in out
    for path in run.run_dir.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
