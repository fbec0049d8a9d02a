"""Prometheus judging and parsing (conformance.monitoring.prometheus): target health, jobs, usage query results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.monitoring import prometheus
from conformance.monitoring.prometheus import JobUp, Target, UpRatio, UsageSample
from conformance.profile.services import Prometheus

from .unitstate import PROFILE, culprits, present, profile, state

SCRAPED = "2025-10-22T03:29:50Z"


def target(job: str, instance: str | None = None, health: str = "up", error: str = "", **extra: Any) -> dict[str, Any]:
    labels = {"job": job, "__meta_x": "dropped"} | ({} if instance is None else {"instance": instance})
    raw: dict[str, Any] = {"labels": labels, "health": health, "lastError": error, "lastScrape": SCRAPED}
    raw["scrapeUrl"] = f"http://{instance or job}:9100/metrics"
    return raw | extra


def targets(*entries: Any, status: str = "success") -> ClusterState:
    return state(documents={"prometheus/targets.json": {"status": status, "data": {"activeTargets": list(entries)}}})


def section(**fields: Any) -> Prometheus:
    return Prometheus.model_validate(fields)


UP_ALL = UpRatio(section())


@pytest.mark.parametrize(
    ("entries", "minimum", "want", "observed"),
    [
        pytest.param([target("node", "a"), target("node", "b")], 1.0, [], "2/2 targets up (100%)", id="all-up"),
        pytest.param(
            [target("node", "a"), target("node", "b", "down", "connection refused")],
            1.0,
            [("node/b", "down: connection refused")],
            "1/2 targets up (50%); not up: node/b",
            id="one-down",
        ),
        pytest.param(
            [target("node", "a"), target("node", "b"), target("kube", "c", "unknown")],
            0.66,
            [],
            "2/3 targets up (66.7%); not up: kube/c",
            id="enough-up",
        ),
        pytest.param(
            [target("node", "a"), target("node", "b"), target("kube", "c"), target("kube", "d", "unknown")],
            0.75,
            [],
            "3/4 targets up (75%); not up: kube/d",
            id="exactly-the-minimum",
        ),
        pytest.param(
            [target("node", "a"), target("kube", "c", "unknown"), target("kube", "d", "down")],
            0.5,
            [("kube/c", "unknown (not scraped yet)"), ("kube/d", "down")],
            "1/3 targets up (33.3%); not up: kube/c, kube/d",
            id="below-the-minimum",
        ),
    ],
)
def test_up_ratio(entries: list[Any], minimum: float, want: list[tuple[str, str]], observed: str) -> None:
    expected = UpRatio(section(min_up_ratio=minimum))
    finding = prometheus.targets(targets(*entries), expected, PROFILE)
    assert culprits(finding) == want
    assert finding.observed == observed
    assert (finding.inspected, finding.evidence) == (len(entries), ("prometheus/targets.json",))
    shown = {1.0: "100%", 0.66: "66%", 0.75: "75%", 0.5: "50%"}[minimum]
    assert finding.expected == f"at least {shown} of active targets up"


def test_up_ratio_expectation_reads_as_a_percentage() -> None:
    finding = prometheus.up_ratio(targets(target("a")), UpRatio(section(min_up_ratio=0.9)), PROFILE)
    assert finding.expected == "at least 90% of active targets up"
    assert str(UpRatio(section(min_up_ratio=0.955))) == "at least 95.5% of Prometheus' active targets are up"
    assert str(JobUp("node", section())) == "Prometheus job node has at least one target up"


def test_a_down_target_culprit_carries_its_details() -> None:
    long_error = "x" * 301
    finding = prometheus.targets(targets(target("node", "b", "down", long_error)), UP_ALL, PROFILE)
    (culprit,) = finding.culprits
    assert culprit.observed == f"down: {'x' * 300}..."
    assert culprit.details == {
        "job": "node",
        "instance": "b",
        "health": "down",
        "lastError": long_error,
        "lastScrape": SCRAPED,
        "scrapeUrl": "http://b:9100/metrics",
    }
    exact = Target("j", "i", "down", "y" * 300, "", "").culprit()
    assert exact.observed == f"down: {'y' * 300}"


@pytest.mark.parametrize(
    ("entries", "want", "observed", "inspected"),
    [
        pytest.param(
            [target("node", "a", "down"), target("node", "b"), target("kube", "c", "down")],
            [],
            "job node: 1/2 targets up",
            2,
            id="one-up-is-enough",
        ),
        pytest.param(
            [target("node", "a", "down", "timeout"), target("node", "b", "unknown"), target("kube", "c")],
            [("node/a", "down: timeout"), ("node/b", "unknown (not scraped yet)")],
            "job node: 0/2 targets up",
            2,
            id="none-up",
        ),
        pytest.param(
            [target("kube", "c"), target("api", "d", "down"), target("kube", "e")],
            [("job node", "no active target (not configured or nothing discovered)")],
            "job node: no active target among 3 (jobs: api, kube)",
            3,
            id="job-missing",
        ),
    ],
)
def test_job_up(entries: list[Any], want: list[tuple[str, str]], observed: str, inspected: int) -> None:
    finding = prometheus.targets(targets(*entries), JobUp("node", section()), PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "job node: at least one target up",
        observed,
        inspected,
        ("prometheus/targets.json",),
    )


def test_targets_without_an_instance_label_are_named_by_url() -> None:
    parsed = prometheus.active_targets(
        targets(target("node"), {"labels": {"job": "bare", "instance": 5}, "health": "unknown"})
    )
    assert parsed == [
        Target("node", "http://node:9100/metrics", "up", "", SCRAPED, "http://node:9100/metrics"),
        Target("bare", "target 1", "unknown", "", "", ""),
    ]
    assert parsed[1].name == "bare/target 1"


TARGETS = "prometheus/targets.json"


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        pytest.param(b"[]", MalformedObject, f"{TARGETS}: expected a Prometheus API envelope (a JSON object)"),
        pytest.param(
            b'{"status": "error", "errorType": "unavailable", "error": "starting"}',
            CouldNotEvaluate,
            f'{TARGETS}: Prometheus answered status "error": unavailable: starting',
            id="error-envelope",
        ),
        pytest.param(
            b'{"status": "error"}',
            CouldNotEvaluate,
            f'{TARGETS}: Prometheus answered status "error": unknown errorType: None',
            id="bare-error-envelope",
        ),
        pytest.param(
            b'{"status": "pending", "data": {}}',
            MalformedObject,
            f'{TARGETS}: envelope status is \'pending\', expected "success" or "error"',
            id="odd-status",
        ),
        pytest.param(
            b'{"status": "success", "data": []}', MalformedObject, f"{TARGETS}: data is missing or not an object"
        ),
        pytest.param(
            b'{"status": "success", "data": {}}',
            MalformedObject,
            f"{TARGETS}: data.activeTargets is missing or not a list",
            id="no-targets-list",
        ),
        pytest.param(
            b'{"status": "success", "data": {"activeTargets": []}}',
            CouldNotEvaluate,
            f"{TARGETS}: Prometheus reports no active targets (no scrape configuration?)",
            id="no-targets",
        ),
        pytest.param(
            b'{"status": "success", "data": {"activeTargets": ["x"]}}',
            MalformedObject,
            f"{TARGETS}: activeTargets[0] is not an object",
            id="target-not-object",
        ),
        pytest.param(
            b'{"status": "success", "data": {"activeTargets": [{"scrapeUrl": "http://a/m", "labels": {}}]}}',
            MalformedObject,
            f"{TARGETS}: activeTargets[0] (http://a/m): labels.job is missing",
            id="no-job",
        ),
        pytest.param(
            b'{"status": "success", "data": {"activeTargets": [{"labels": {"job": 1}}]}}',
            MalformedObject,
            f"{TARGETS}: activeTargets[0]: labels.job is missing",
            id="job-not-text",
        ),
        pytest.param(
            b'{"status": "success", "data": {"activeTargets": [{"labels": {"job": "j"}, "health": "sick"}]}}',
            MalformedObject,
            f"{TARGETS}: activeTargets[0]: health is 'sick', expected one of up, down, unknown",
            id="bad-health",
        ),
        pytest.param(
            b'{"status": "success", "data": {"activeTargets": [{"labels": {"job": "j"}, "health": "up", '
            b'"lastError": null}]}}',
            MalformedObject,
            f"{TARGETS}: activeTargets[0]: lastError is not a string",
            id="bad-last-error",
        ),
    ],
)
def test_targets_cannot_be_evaluated(body: bytes, error: type[Exception], reason: str) -> None:
    given = state(documents={TARGETS: body})
    for expected in (UP_ALL, JobUp("node", section())):
        with pytest.raises(error) as raised:
            prometheus.targets(given, expected, PROFILE)
        assert str(raised.value) == reason


def test_targets_that_are_not_json() -> None:
    with pytest.raises(MalformedObject, match=r"^prometheus/targets\.json is not valid JSON \(.+\)$"):
        prometheus.targets(state(documents={TARGETS: b'{"status": '}), UP_ALL, PROFILE)


def test_targets_need_the_targets_document() -> None:
    with pytest.raises(SourceError) as raised:
        prometheus.targets(state(), UP_ALL, PROFILE)
    assert str(raised.value) == f"prometheus: snapshot has no {TARGETS}"


def test_expand_asks_for_the_ratio_and_each_job() -> None:
    with_jobs = profile(services={"prometheus": {"jobs": ["node", "kube"], "min_up_ratio": 0.9}})
    settings = present(present(with_jobs.services).prometheus)
    assert prometheus.expand(with_jobs) == [
        ("up-ratio", UpRatio(settings)),
        ("job/node", JobUp("node", settings)),
        ("job/kube", JobUp("kube", settings)),
    ]
    assert UpRatio(settings).traced is settings
    assert JobUp("node", settings).traced is settings
    assert prometheus.expand(profile(services={})) is None
    assert prometheus.expand(PROFILE) is None


CPU = "prometheus/cpu-utilization.json"


def query(value: Any = "0.45", stamp: Any = 1761103800, result_type: str = "vector", **extra: Any) -> dict[str, Any]:
    result = [{"metric": {}, "value": [stamp, value]}]
    return {"status": "success", "data": {"resultType": result_type, "result": result}} | extra


def recorded(response: Any = None, **fields: Any) -> dict[str, Any]:
    return {"expression": "cluster:node_cpu:ratio_rate5m", "response": response or query()} | fields


def sample(document: Any) -> UsageSample:
    return prometheus.usage_sample(state(documents={CPU: document}), "cpu")


AT = datetime(2025, 10, 22, 3, 30, tzinfo=UTC)


def test_usage_sample_from_a_recorded_query() -> None:
    tried = [{"expression": "rule:a", "outcome": "no samples"}, "junk", {"expression": "rule:b"}]
    found = sample(recorded(tried=tried))
    assert found == UsageSample(0.45, AT, "cluster:node_cpu:ratio_rate5m", ("rule:a", "rule:b"), "cpu-utilization.json")
    assert (
        found.describe()
        == "Prometheus: cluster:node_cpu:ratio_rate5m at 2025-10-22T03:30:00Z; rule:a, rule:b had no samples"
    )
    bare = sample(query("0", "1761103800.5"))
    assert bare == UsageSample(
        0.0, AT.replace(microsecond=500000), "(expression not recorded)", (), "cpu-utilization.json"
    )
    assert bare.describe() == "Prometheus: (expression not recorded) at 2025-10-22T03:30:00.500000Z"
    memory = prometheus.usage_sample(state(documents={"prometheus/memory-utilization.json": query("0.5")}), "memory")
    assert (memory.value, memory.file) == (0.5, "memory-utilization.json")
    assert sample(recorded(tried="none")).tried == ()


@pytest.mark.parametrize(
    ("document", "error", "reason"),
    [
        pytest.param(
            {"response": query()},
            MalformedObject,
            "expected a /api/v1/query body or {expression, response}",
            id="no-expression",
        ),
        pytest.param(
            {"expression": "up", "error": "GET /api/v1/query answered HTTP 503"},
            CouldNotEvaluate,
            "query up got no answer: GET /api/v1/query answered HTTP 503",
            id="no-answer",
        ),
        pytest.param(
            query(result_type="scalar"),
            CouldNotEvaluate,
            "(expression not recorded) gave a scalar result, expected a vector of one sample",
            id="scalar",
        ),
        pytest.param(
            {"status": "success", "data": {"resultType": "vector", "result": {}}},
            MalformedObject,
            "data.result is not a list",
            id="result-not-list",
        ),
        pytest.param(
            recorded({"status": "success", "data": {"resultType": "vector", "result": []}}),
            CouldNotEvaluate,
            "cluster:node_cpu:ratio_rate5m gave no samples (are node-exporter metrics scraped?); "
            "expected exactly one cluster-wide sample",
            id="no-samples",
        ),
        pytest.param(
            {"status": "success", "data": {"resultType": "vector", "result": [{}, {}]}},
            CouldNotEvaluate,
            "(expression not recorded) gave 2 samples; expected exactly one cluster-wide sample",
            id="two-samples",
        ),
        pytest.param(
            {"status": "success", "data": {"resultType": "vector", "result": ["0.4"]}},
            MalformedObject,
            'the sample has no value [timestamp, "number"]',
            id="sample-not-object",
        ),
        pytest.param(
            {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "0.4", 2]}]}},
            MalformedObject,
            'the sample has no value [timestamp, "number"]',
            id="three-values",
        ),
        pytest.param(query(0.4), MalformedObject, 'the sample has no value [timestamp, "number"]', id="value-number"),
        pytest.param(query("NaN"), CouldNotEvaluate, "(expression not recorded) gave 'NaN', not a finite number"),
        pytest.param(query("+Inf"), CouldNotEvaluate, "(expression not recorded) gave '+Inf', not a finite number"),
        pytest.param(query("lots"), CouldNotEvaluate, "(expression not recorded) gave 'lots', not a finite number"),
        pytest.param(query("-0.1"), CouldNotEvaluate, "(expression not recorded) gave -0.1, a negative utilization"),
        pytest.param(query(stamp="now"), MalformedObject, "the sample's timestamp 'now' is not a Unix time"),
        pytest.param(query(stamp=True), MalformedObject, "the sample's timestamp True is not a Unix time"),
        pytest.param(query(stamp=None), MalformedObject, "the sample's timestamp None is not a Unix time"),
        pytest.param(query(stamp=1e20), MalformedObject, "the sample's timestamp 1e+20 is not a Unix time"),
        pytest.param(
            {"status": "error", "errorType": "execution", "error": "query timed out"},
            CouldNotEvaluate,
            'Prometheus answered status "error": execution: query timed out',
            id="error-envelope",
        ),
        pytest.param(
            recorded("not an envelope"),
            MalformedObject,
            "expected a Prometheus API envelope (a JSON object)",
            id="response-not-envelope",
        ),
    ],
)
def test_usage_sample_cannot_be_evaluated(document: Any, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as raised:
        sample(document)
    assert str(raised.value) == f"{CPU}: {reason}"


@pytest.mark.parametrize(
    ("raw", "value"),
    [(True, None), (False, None), (1, 1.0), (0.5, 0.5), ("2.5", 2.5), ("x", None), (None, None), ([1], None)],
)
def test_float_of_query_values(raw: Any, value: float | None) -> None:
    assert prometheus._float(raw) == value
