"""Remediation hints filled per culprit with the object it names: kind, name, namespace and container.

A check's `remediation=` is a small template (`{kind}/{name} -n {namespace}`, `[ -c {container}]` kept only
when the container is known); a culprit whose object is unknown gets the generic form (`KIND/NAME -n NS`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conformance import remediation
from conformance.check import Culprit, ObjectRef
from conformance.registry import checks

from conftest import DEMO, Snapshot, run_suite

KONG_POD = "kong-884b8f4bd-sr4v7"
PLACEHOLDER = re.compile(r"\b(KIND|NAME|NS|CONTAINER)\b")
POD_HINT = (
    f"kubectl describe pod {KONG_POD} -n kong; kubectl logs {KONG_POD} -n kong -c proxy --previous; "
    "check events and image pull secrets"
)
KONG_HINT = (
    "kubectl rollout status deployment/kong -n kong; kubectl describe deployment/kong -n kong and its failing pods"
)


def test_templates_fill_known_fields_and_keep_the_generic_form_for_unknown_ones() -> None:
    template = "kubectl logs {name} -n {namespace}[ -c {container}] --previous; kubectl get {kind} {name}"
    assert remediation.generic(template) == "kubectl logs NAME -n NS --previous; kubectl get KIND NAME"
    pod = {"kind": "pod", "name": "web-1", "namespace": "apps", "container": "proxy"}
    assert remediation.fill(template, pod) == "kubectl logs web-1 -n apps -c proxy --previous; kubectl get pod web-1"
    # Without a container the optional part goes; an unknown field keeps its generic spelling.
    assert (
        remediation.fill(template, {"name": "web-1"}) == "kubectl logs web-1 -n NS --previous; kubectl get KIND web-1"
    )
    # Detail fields are spelled by their name when unknown, and a value a shell would read as more is quoted.
    assert remediation.fill("kubectl label ns {namespace} {key}={value}", {}) == "kubectl label ns NS KEY=VALUE"
    assert remediation.fill("kubectl describe pod {name}", {"name": "a; rm -rf /"}) == (
        "kubectl describe pod 'a; rm -rf /'"
    )


@pytest.mark.parametrize("template", ["kubectl get {kind", "kubectl get {}", "x [ -c {container}", "x ]", "{a-b}"])
def test_a_malformed_template_is_refused_when_the_check_is_declared(template: str) -> None:
    with pytest.raises(ValueError, match="remediation template"):
        remediation.validate(template)


def test_every_check_declares_a_template_whose_generic_form_reads_as_before() -> None:
    hints = {}
    for registered in checks():
        spec = registered.spec
        remediation.validate(spec.remediation)
        for template in spec.remediation_for.values():
            remediation.validate(template)
        hints[spec.name] = spec.generic_remediation
    assert hints["test_no_failing_pods"] == (
        "kubectl describe pod NAME -n NS; kubectl logs NAME -n NS --previous; check events and image pull secrets"
    )
    assert hints["test_workload_ready"] == (
        "kubectl rollout status KIND/NAME -n NS; kubectl describe KIND/NAME -n NS and its failing pods"
    )


def test_a_culprit_is_filled_from_its_object() -> None:
    (spec,) = [c.spec for c in checks() if c.name == "test_workload_ready"]
    workload = Culprit("Deployment kong/kong", "1/2 replicas ready", ref=ObjectRef("Deployment", "kong", "kong"))
    pod = Culprit(KONG_POD, "CrashLoopBackOff", ref=ObjectRef("Pod", KONG_POD, "kong", "proxy"))
    assert spec.hint_for(workload) == KONG_HINT
    assert spec.hint_for(pod) == POD_HINT  # pods of a workload get the pod hint
    assert spec.hint_for(Culprit("cluster", "has 2 nodes")) == spec.generic_remediation


def crash_loop(s: Snapshot) -> None:
    pod = s.get("pods", "kong", KONG_POD)
    for status in pod["status"]["containerStatuses"]:
        if status["name"] == "proxy":
            status.update(
                ready=False, started=False, restartCount=12, state={"waiting": {"reason": "CrashLoopBackOff"}}
            )
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "False"
    s.get("deployments.apps", "kong", "kong")["status"].update(readyReplicas=1, availableReplicas=1)


def results_of(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads((run_dir / "results.json").read_text())["checks"]}


def allure_descriptions(run_dir: Path) -> dict[str, str]:
    found = {}
    for path in (run_dir / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        found[result["name"]] = result.get("descriptionHtml", "")
    return found


def test_failures_and_waivers_carry_hints_filled_for_their_culprits(demo: Snapshot, pytester: pytest.Pytester) -> None:
    crash_loop(demo)
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    assert run.result.ret == 1
    found = results_of(run.run_dir)

    workload = found["test_workload_ready[kong/Deployment/kong]"]
    hints = {c["name"]: c["remediation"] for c in workload["culprits"]}
    assert hints == {"Deployment kong/kong": KONG_HINT, KONG_POD: POD_HINT}
    assert workload["culprits"][0]["object"] == {"kind": "Deployment", "name": "kong", "namespace": "kong"}
    assert workload["remediation"].splitlines() == [KONG_HINT, POD_HINT]
    pods = found["test_no_failing_pods[kong]"]
    assert pods["remediation"] == POD_HINT
    assert pods["culprits"][0]["object"] == {"kind": "Pod", "name": KONG_POD, "namespace": "kong", "container": "proxy"}
    # A waived failure's hint is filled from the culprits its waiver covers.
    waived = found["test_workload_ready[cloudflare-tunnel/Deployment/cloudflared]"]
    assert waived["remediation"].startswith("kubectl rollout status deployment/cloudflared -n cloudflare-tunnel;")
    for check in (workload, pods, waived):
        assert not PLACEHOLDER.search(check["remediation"]), check["remediation"]

    report = (run.run_dir / "report.html").read_text()
    card = report[report.index('id="cf-failures"') :]
    card = card[card.index("test_workload_ready[kong/Deployment/kong]") :]
    assert f'<th>Remediation</th><td class="cf-pre">{KONG_HINT}\n{POD_HINT}</td>' in card[: card.index("</article>")]

    descriptions = allure_descriptions(run.run_dir)
    assert (
        f"<b>Remediation</b>: {KONG_HINT}<br>{POD_HINT}</p>"
        in descriptions["test_workload_ready[kong/Deployment/kong]"]
    )
    assert (
        "deployment/cloudflared -n cloudflare-tunnel"
        in descriptions["test_workload_ready[cloudflare-tunnel/Deployment/cloudflared]"]
    )


def test_the_demo_names_no_placeholder_next_to_a_known_culprit(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}")
    assert run.result.ret == 0
    for name, check in results_of(run.run_dir).items():
        if check["verdict"] == "waived" and name.startswith("test_workload_ready["):
            assert not PLACEHOLDER.search(check["remediation"]), (name, check["remediation"])
