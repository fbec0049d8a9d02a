"""Kafka's judging functions (conformance.kafka.topics): metadata.json and topics.txt parsing, brokers, topics and
the canary round trip. The confluent-kafka collection code is exercised by tests/test_kafka.py against a broker."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.kafka import topics
from conformance.kafka.topics import Broker, BrokerCount, CanaryResult, CanaryRoundTrip, Metadata, Topic, TopicSet

from .unitstate import PROFILE, culprits, present, profile, state

BROKERS = [{"id": 0, "host": "kafka-0.kafka", "port": 9092}, {"id": 1, "host": "kafka-1.kafka", "port": 9092}]
LISTING = "broker 0 at kafka-0.kafka:9092, broker 1 at kafka-1.kafka:9092"


def metadata(**fields: Any) -> dict[str, Any]:
    return {"brokers": BROKERS, "topics": {}} | fields


def with_metadata(**fields: Any) -> ClusterState:
    return state(documents={"kafka/metadata.json": metadata(**fields)})


def test_parse_metadata_reads_every_field() -> None:
    body = metadata(
        bootstrap="kafka:9092",
        cluster_id="abc",
        controller_id=1,
        topics={
            "events.a": {"partitions": 3, "error": None},
            "events.b": {"partitions": 0, "error": "LEADER_NOT_AVAILABLE"},
        },
        canary={"topic": "canary", "ok": True, "created": True, "partition": 0, "offset": 12, "seconds": 1},
    )
    assert topics.parse_metadata(state(documents={"kafka/metadata.json": body}).documents["kafka/metadata.json"]) == (
        Metadata(
            brokers=(Broker(0, "kafka-0.kafka", 9092), Broker(1, "kafka-1.kafka", 9092)),
            topics={"events.a": Topic(3), "events.b": Topic(0, "LEADER_NOT_AVAILABLE")},
            cluster_id="abc",
            controller_id=1,
            bootstrap="kafka:9092",
            canary=CanaryResult("canary", True, None, None, True, 0, 12, 1.0),
        )
    )
    assert topics.parse_metadata(b'{"brokers": [], "topics": {}, "canary": null}') == Metadata((), {})
    bare = topics.parse_metadata(b'{"brokers": [], "topics": {}, "canary": {"topic": "c", "ok": true}}').canary
    assert bare == CanaryResult("c", True, seconds=0.0)


LONG = "x" * 79 + " " + "y" * 20


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "expected a JSON object with brokers and topics"),
        ({"topics": {}}, "brokers: expected a list of {id, host, port}"),
        (metadata(brokers=["kafka-0"]), "brokers[0]: expected an object with id, host, port"),
        (metadata(brokers=[{"id": True, "host": "h", "port": 1}]), "brokers[0].id: expected an integer >= 0, got True"),
        (metadata(brokers=[{"id": -1, "host": "h", "port": 1}]), "brokers[0].id: expected an integer >= 0, got -1"),
        (metadata(brokers=[{"id": 0, "host": "", "port": 1}]), "brokers[0].host: expected a non-empty string, got ''"),
        (metadata(brokers=[{"id": 0, "host": "h"}]), "brokers[0].port: expected an integer >= 0, got None"),
        (metadata(topics=[]), "topics: expected an object of name -> {partitions, error}"),
        (metadata(topics={"bad name": {}}), "topics: 'bad name' is not a topic name"),
        (metadata(topics={LONG: {}}), f"topics: {LONG[:80]!r} is not a topic name"),
        (metadata(topics={"t": 3}), "topics[t]: expected an object with partitions and error"),
        (metadata(topics={"t": {"partitions": -1}}), "topics[t].partitions: expected an integer >= 0, got -1"),
        (metadata(topics={"t": {"partitions": 1, "error": 5}}), "topics[t].error: expected a non-empty string, got 5"),
        (metadata(cluster_id=5), "cluster_id: expected a non-empty string, got 5"),
        (metadata(controller_id="1"), "controller_id: expected an integer, got '1'"),
        (metadata(bootstrap=""), "bootstrap: expected a non-empty string, got ''"),
        (metadata(canary=[]), "canary: expected an object"),
        (metadata(canary={"topic": "c", "ok": "yes"}), "canary.ok: expected true or false, got 'yes'"),
        (metadata(canary={"topic": "c", "ok": False, "stage": 3}), "canary.stage: expected a non-empty string, got 3"),
        (
            metadata(canary={"topic": "c", "ok": False, "stage": "publish"}),
            "canary.stage: expected one of create, produce, consume, got 'publish'",
        ),
        (metadata(canary={"topic": "c", "ok": False}), "canary: ok is false but no stage says where it stopped"),
        (metadata(canary={"topic": "c", "ok": True, "created": 1}), "canary.created: expected true or false, got 1"),
        (metadata(canary={"topic": "c", "ok": True, "seconds": True}), "canary.seconds: expected a number, got True"),
        (metadata(canary={"topic": "c", "ok": True, "seconds": "1"}), "canary.seconds: expected a number, got '1'"),
        (metadata(canary={"ok": True}), "canary.topic: expected a non-empty string, got None"),
        (metadata(canary={"topic": "c", "ok": True, "error": ""}), "canary.error: expected a non-empty string, got ''"),
        (
            metadata(canary={"topic": "c", "ok": True, "partition": -1}),
            "canary.partition: expected an integer >= 0, got -1",
        ),
        (
            metadata(canary={"topic": "c", "ok": True, "offset": 1.5}),
            "canary.offset: expected an integer >= 0, got 1.5",
        ),
    ],
)
def test_malformed_metadata(document: Any, reason: str) -> None:
    with pytest.raises(MalformedObject) as raised:
        topics.parse_metadata(state(documents={"kafka/metadata.json": document}).documents["kafka/metadata.json"])
    assert str(raised.value) == f"kafka/metadata.json: {reason}"


def test_metadata_that_is_not_json() -> None:
    with pytest.raises(MalformedObject, match=r"^kafka/metadata\.json: not valid JSON \(.+\)$"):
        topics.parse_metadata(b'{"brokers": [')


def test_parse_topic_list() -> None:
    assert topics.parse_topic_list(b"b.events\n\n  a.events  \nb.events\n__consumer_offsets\n") == [
        "__consumer_offsets",
        "a.events",
        "b.events",
    ]
    assert topics.parse_topic_list(b"") == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "not UTF-8 text"),
        (
            b"ok\nnot a topic\n",
            "line 2: 'not a topic' is not a topic name (expected one name per line, as `kafka-topics --list` prints)",
        ),
        (
            f"\n{LONG}\n".encode(),
            f"line 2: {LONG[:80]!r} is not a topic name (expected one name per line, as `kafka-topics --list` prints)",
        ),
    ],
)
def test_malformed_topic_list(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedObject) as raised:
        topics.parse_topic_list(body)
    assert str(raised.value) == f"kafka/topics.txt: {reason}"


@pytest.mark.parametrize(
    ("brokers", "cluster_id", "want"),
    [
        pytest.param(BROKERS, "abc", [], id="expected-count"),
        pytest.param(BROKERS[:1], "abc", [("kafka cluster abc", "1 broker listed (broker 0 at kafka-0.kafka:9092)")]),
        pytest.param(
            [*BROKERS, {"id": 2, "host": "kafka-2.kafka", "port": 9093}],
            None,
            [("kafka the cluster", f"3 brokers listed ({LISTING}, broker 2 at kafka-2.kafka:9093)")],
            id="more-than-expected",
        ),
        pytest.param([], None, [("kafka the cluster", "0 brokers listed (none)")], id="none"),
    ],
)
def test_kafka_brokers(brokers: list[dict[str, Any]], cluster_id: str | None, want: list[tuple[str, str]]) -> None:
    finding = topics.kafka_brokers(with_metadata(brokers=brokers, cluster_id=cluster_id), BrokerCount(2), PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.inspected, finding.evidence) == (
        "exactly 2 brokers in the cluster metadata",
        len(brokers),
        ("kafka/metadata.json",),
    )


def test_kafka_brokers_says_what_it_saw() -> None:
    finding = topics.kafka_brokers(with_metadata(cluster_id="abc"), BrokerCount(1), PROFILE)
    assert finding.observed == f"2 brokers in the metadata of cluster abc: {LISTING}"
    assert finding.expected == "exactly 1 broker in the cluster metadata"
    one = topics.kafka_brokers(with_metadata(brokers=BROKERS[:1]), BrokerCount(1), PROFILE)
    assert one.observed == "1 broker in the metadata of the cluster: broker 0 at kafka-0.kafka:9092"


@pytest.mark.parametrize(
    ("documents", "error", "reason"),
    [
        pytest.param({}, SourceError, "kafka: snapshot has no kafka/metadata.json", id="no-metadata"),
        pytest.param(
            {"kafka/topics.txt": b"a\n"}, SourceError, "kafka: snapshot has no kafka/metadata.json", id="only-topics"
        ),
        pytest.param(
            {"kafka/metadata.json": {"brokers": {}}},
            MalformedObject,
            "kafka/metadata.json: brokers: expected a list of {id, host, port}",
            id="malformed",
        ),
    ],
)
def test_kafka_brokers_cannot_be_evaluated(documents: dict[str, Any], error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as raised:
        topics.kafka_brokers(state(documents=documents), BrokerCount(2), PROFILE)
    assert str(raised.value) == reason


def listed(*names: str, errors: dict[str, str] | None = None) -> ClusterState:
    entries = {n: {"partitions": 1, "error": (errors or {}).get(n)} for n in names}
    return with_metadata(topics=entries)


@pytest.mark.parametrize(
    ("cluster", "expected", "want"),
    [
        pytest.param(listed("events.a", "events.b"), TopicSet(2, ("events.",)), [], id="enough"),
        pytest.param(
            listed("events.a", "__consumer_offsets", "__transaction_state"),
            TopicSet(2),
            [("topics named anything (internal __ topics aside)", "1 of at least 2")],
            id="internal-not-counted",
        ),
        pytest.param(
            listed("__events.a", "events.b"),
            TopicSet(2, ("__events.", "events.")),
            [("topics named __events.* or events.*", "1 of at least 2")],
            id="internal-even-with-prefix",
        ),
        pytest.param(
            listed("events.a", "logs.a", "audit.x"),
            TopicSet(3, ("events.", "logs.", "audit.")),
            [],
            id="several-prefixes",
        ),
        pytest.param(
            listed("events.a", "events.b", errors={"events.b": "LEADER_NOT_AVAILABLE"}),
            TopicSet(2, ("events.",), ("events.b", "events.c")),
            [
                ("topics named events.*", "1 of at least 2"),
                ("events.b", "listed with error LEADER_NOT_AVAILABLE"),
                ("events.c", "not found among 2 topics"),
            ],
            id="broken-and-missing",
        ),
        pytest.param(listed("a"), TopicSet(0, (), ("b",)), [("b", "not found among 1 topic")], id="named-only"),
        pytest.param(listed(), TopicSet(0), [], id="nothing-asked"),
    ],
)
def test_kafka_topics(cluster: ClusterState, expected: TopicSet, want: list[tuple[str, str]]) -> None:
    assert culprits(topics.kafka_topics(cluster, expected, PROFILE)) == want


def test_kafka_topics_says_what_it_saw() -> None:
    cluster = listed("events.a", "events.b", "logs.x", "__consumer_offsets", "events.c", errors={"events.c": "E1"})
    finding = topics.kafka_topics(cluster, TopicSet(1, ("events.",), ("events.a", "events.c", "events.z")), PROFILE)
    assert finding.expected == "at least 1 topics named events.* and the topics events.a, events.c, events.z"
    assert finding.observed == (
        "2 topics named events.* (events.a, events.b); 2 other (__consumer_offsets, logs.x); "
        "1 listed with an error (events.c: E1); 1 of 3 required topics present"
    )
    assert (finding.inspected, finding.evidence) == (5, ("kafka/metadata.json",))
    one = topics.kafka_topics(listed("a"), TopicSet(1), PROFILE)
    assert one.observed == "1 topic named anything (internal __ topics aside) (a); 0 other (none)"
    assert one.expected == "at least 1 topics named anything (internal __ topics aside)"


def test_kafka_topics_from_topics_txt_when_no_metadata() -> None:
    cluster = state(documents={"kafka/topics.txt": b"events.a\n__consumer_offsets\n"})
    finding = topics.kafka_topics(cluster, TopicSet(2, (), ("events.a",)), PROFILE)
    assert culprits(finding) == [("topics named anything (internal __ topics aside)", "1 of at least 2")]
    assert finding.evidence == ("kafka/topics.txt",)
    assert finding.observed.endswith("; 1 of 1 required topics present")
    both = state(
        documents={"kafka/topics.txt": b"x\n", "kafka/metadata.json": metadata(topics={"y": {"partitions": 1}})}
    )
    assert topics.listed_topics(both) == ({"y": None}, "metadata.json")
    assert topics.listed_topics(state(documents={"kafka/topics.txt": b"b\na\n"})) == (
        {"a": None, "b": None},
        "topics.txt",
    )


def test_long_topic_listings_are_cut() -> None:
    names = [f"t{i:02}" for i in range(42)]
    finding = topics.kafka_topics(listed(*names), TopicSet(0), PROFILE)
    assert finding.observed == (
        f"42 topics named anything (internal __ topics aside) ({', '.join(names[:40])} and 2 more); 0 other (none)"
    )
    exactly = topics.kafka_topics(listed(*names[:40]), TopicSet(0), PROFILE)
    assert exactly.observed.endswith(f"({', '.join(names[:40])}); 0 other (none)")


@pytest.mark.parametrize(
    ("documents", "error", "reason"),
    [
        pytest.param(
            {},
            SourceError,
            "kafka: snapshot has none of kafka/metadata.json, kafka/topics.txt",
            id="nothing-captured",
        ),
        pytest.param(
            {"kafka/topics.txt": b"bad topic\n"},
            MalformedObject,
            "kafka/topics.txt: line 1: 'bad topic' is not a topic name (expected one name per line, as "
            "`kafka-topics --list` prints)",
            id="malformed-list",
        ),
        pytest.param(
            {"kafka/metadata.json": {"brokers": [], "topics": []}, "kafka/topics.txt": b"a\n"},
            MalformedObject,
            "kafka/metadata.json: topics: expected an object of name -> {partitions, error}",
            id="malformed-metadata",
        ),
    ],
)
def test_kafka_topics_cannot_be_evaluated(documents: dict[str, Any], error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as raised:
        topics.kafka_topics(state(documents=documents), TopicSet(1), PROFILE)
    assert str(raised.value) == reason


@pytest.mark.parametrize(
    ("expected", "text"),
    [
        (TopicSet(0), "at least 0 topics named anything (internal __ topics aside)"),
        (TopicSet(0, ("a.",), ("a.x",)), "the topics a.x"),
        (TopicSet(2, ("a.", "b."), ("a.x", "b.y")), "at least 2 topics named a.* or b.* and the topics a.x, b.y"),
        (TopicSet(1, ("a.", "b.", "c.")), "at least 1 topics named a.*, b.* or c.*"),
    ],
)
def test_topic_set_reads_as_its_requirement(expected: TopicSet, text: str) -> None:
    assert str(expected) == text


def test_topic_set_counts_only_matching_non_internal_topics() -> None:
    assert [TopicSet(0).counts(n) for n in ("a", "_a", "__a")] == [True, True, False]
    assert [TopicSet(0, ("a", "b")).counts(n) for n in ("a1", "b1", "c1", "__a")] == [True, True, False, False]


def canary(**fields: Any) -> ClusterState:
    return with_metadata(canary={"topic": "canary", "seconds": 0.25} | fields)


ROUND_TRIP = CanaryRoundTrip("canary", timedelta(seconds=10))


@pytest.mark.parametrize(
    ("cluster", "want", "observed"),
    [
        pytest.param(
            canary(ok=True, partition=0, offset=41),
            [],
            "message produced to canary[0]@41 and consumed back in 0.25s",
            id="round-trip",
        ),
        pytest.param(
            canary(ok=True, created=True, offset=0),
            [],
            "message produced to canary[None]@0 and consumed back in 0.25s (topic canary created by this run)",
            id="round-trip-new-topic",
        ),
        pytest.param(
            canary(ok=True, partition=0),
            [],
            "message produced to canary and consumed back in 0.25s",
            id="round-trip-offset-unknown",
        ),
        pytest.param(
            canary(ok=False, stage="produce", error="no acknowledgement within 10s", seconds=10),
            [("canary", "produce failed: no acknowledgement within 10s")],
            "the canary stopped at produce after 10s",
            id="produce-failed",
        ),
        pytest.param(
            canary(ok=False, stage="consume", partition=0, offset=3),
            [("canary", "consume failed: no reason recorded")],
            "the canary stopped at consume after 0.25s",
            id="consume-failed",
        ),
    ],
)
def test_kafka_canary(cluster: ClusterState, want: list[tuple[str, str]], observed: str) -> None:
    finding = topics.kafka_canary(cluster, ROUND_TRIP, PROFILE)
    assert culprits(finding) == want
    assert (finding.expected, finding.observed, finding.inspected, finding.evidence) == (
        "a message produced to canary is consumed back within 10s",
        observed,
        1,
        ("kafka/metadata.json",),
    )


@pytest.mark.parametrize(
    ("cluster", "reason"),
    [
        pytest.param(
            with_metadata(),
            "kafka/metadata.json has no canary result: the canary runs in live runs with services.kafka.canary.enabled",
            id="no-canary",
        ),
        pytest.param(
            canary(ok=False, stage="create", error="TOPIC_AUTHORIZATION_FAILED"),
            "canary topic canary: TOPIC_AUTHORIZATION_FAILED",
            id="could-not-create",
        ),
        pytest.param(canary(ok=False, stage="create"), "canary topic canary: could not be created", id="create-silent"),
        pytest.param(state(), "kafka: snapshot has no kafka/metadata.json", id="no-metadata"),
    ],
)
def test_kafka_canary_cannot_be_evaluated(cluster: ClusterState, reason: str) -> None:
    with pytest.raises(CouldNotEvaluate) as raised:
        topics.kafka_canary(cluster, ROUND_TRIP, PROFILE)
    assert str(raised.value) == reason


def test_expansions_follow_the_profile() -> None:
    kafka = {
        "source": "report",
        "note": "why",
        "brokers": 3,
        "timeout": "20s",
        "topics": {"min": 2, "prefixes": ["events."], "names": ["events.a"]},
        "canary": {"enabled": True, "topic": "probe"},
    }
    full = profile(services={"kafka": kafka})
    present(present(full.services).kafka)._origin = "profiles/t.yaml:9"  # the loader sets where the section was written
    where = ("report", "why", "profiles/t.yaml:9", "report")  # source, note, origin, basis (implied by the source)
    assert topics.expand_brokers(full) == [("brokers", BrokerCount(3, *where))]
    assert topics.expand_topics(full) == [("topics", TopicSet(2, ("events.",), ("events.a",), *where))]
    assert topics.expand_canary(full) == [("canary", CanaryRoundTrip("probe", timedelta(seconds=20), *where))]
    bare = profile(services={"kafka": {}})
    assert (topics.expand_brokers(bare), topics.expand_topics(bare), topics.expand_canary(bare)) == (None, None, None)
    none = profile(services={})
    assert (topics.expand_brokers(none), topics.expand_topics(none), topics.expand_canary(none)) == (None, None, None)
    assert (topics.expand_brokers(PROFILE), topics.expand_topics(PROFILE), topics.expand_canary(PROFILE)) == (
        None,
        None,
        None,
    )
    assert str(BrokerCount(1)) == "exactly 1 broker"
    assert str(BrokerCount(3)) == "exactly 3 brokers"
    assert str(CanaryRoundTrip("probe", timedelta(minutes=1, seconds=30))) == (
        "a message produced to probe is consumed back within 1m30s"
    )


def test_metadata_is_stored_as_it_is_read_back() -> None:
    collected = Metadata(
        brokers=(Broker(1, "kafka-1", 9093),),
        topics={"b": Topic(2), "a": Topic(1, "UNKNOWN_TOPIC_OR_PART")},
        cluster_id="abc",
        controller_id=1,
        bootstrap="kafka:9092",
        canary=CanaryResult("probe", False, "consume", "timed out", True, 0, 7, 2.5),
    )
    body = collected.to_json()
    assert body.startswith(b'{\n  "bootstrap": "kafka:9092",\n  "cluster_id": "abc",\n  "controller_id": 1,\n')
    assert body.endswith(b"}\n")
    assert body.index(b'"a"') < body.index(b'"b"')
    assert topics.parse_metadata(body) == collected
    assert json.loads(body)["canary"] == {
        "topic": "probe",
        "ok": False,
        "stage": "consume",
        "error": "timed out",
        "created": True,
        "partition": 0,
        "offset": 7,
        "seconds": 2.5,
    }
    assert "canary" not in json.loads(Metadata((), {}).to_json())
    assert topics.topic_list_text(collected) == b"a\nb\n"
    assert topics.topic_list_text(Metadata((), {})) == b""


def test_sanitize_keeps_only_what_the_checks_read() -> None:
    document = metadata(topics={}, secret="x", canary={"topic": "c", "ok": True, "token": "t"}) | {"cluster_id": "abc"}
    kept = json.loads(topics.sanitize("metadata.json", json.dumps(document).encode()))
    assert kept == {"cluster_id": "abc", "brokers": BROKERS, "topics": {}, "canary": {"topic": "c", "ok": True}}
    assert topics.sanitize("metadata.json", json.dumps({"canary": 1}).encode()).endswith(b"\n")
    assert json.loads(topics.sanitize("metadata.json", b'{"canary": 1}')) == {"canary": 1}
    for body in (b"[1]", b"{not json", b"a\nb\n"):
        assert topics.sanitize("metadata.json", body) == body
    assert topics.sanitize("topics.txt", b'{"secret": 1}') == b'{"secret": 1}'
