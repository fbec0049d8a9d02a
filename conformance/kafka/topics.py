"""Kafka as the suite sees it: broker metadata and topics read with confluent-kafka, and an optional canary.

Snapshot files: `kafka/topics.txt` (what `kafka-topics --list` prints) and `kafka/metadata.json` (`Metadata`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from conformance.check import Culprit, Expansion, Finding
from conformance.cluster.state import ClusterState
from conformance.duration import format_duration
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.profile.model import Profile
from conformance.profile.services import Kafka
from conformance.services.source import LiveContext, ServiceSource

SERVICE = "kafka"
TOPICS_FILE = "topics.txt"
METADATA_FILE = "metadata.json"
# Kafka's internal topics (__consumer_offsets, __transaction_state) never count as the platform's topics.
INTERNAL_PREFIX = "__"
# Kafka's own rule for topic names (org.apache.kafka.common.internals.Topic).
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
# librdkafka properties that carry secrets: those belong in sasl_password (a Credential), never in a profile.
SECRET_PROPERTY = re.compile(
    r"password|secret|passphrase|private\.key|^ssl\.key\.pem$|^sasl\.oauthbearer\.config$|jaas", re.IGNORECASE
)
# "(after 3ms in state CONNECT)" differs on every retry of the same failure; dropped to say it once.
RETRY_SUFFIX = re.compile(r"\s*\(after \d+ms in state [^)]*\)")
METADATA_KEYS = ("bootstrap", "cluster_id", "controller_id", "brokers", "topics", "canary")
CANARY_KEYS = ("topic", "ok", "stage", "error", "created", "partition", "offset", "seconds")
CANARY_STAGES = ("create", "produce", "consume")
MAX_LISTED = 40
CLIENT_ID = "cluster-conformance"
# Distinct client log lines kept per client: enough to explain a failure, bounded for a client that keeps trying.
MAX_LOGGED = 20
_JSON = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


# ---------------------------------------------------------------------------------------------
# What metadata.json holds


@dataclass(frozen=True)
class Broker:
    id: int
    host: str
    port: int

    def __str__(self) -> str:
        return f"broker {self.id} at {self.host}:{self.port}"


@dataclass(frozen=True)
class Topic:
    partitions: int
    error: str | None = None


@dataclass(frozen=True)
class CanaryResult:
    """One produce/consume round trip. `stage` is where it stopped (create, produce, consume); None when ok."""

    topic: str
    ok: bool
    stage: str | None = None
    error: str | None = None
    created: bool = False
    partition: int | None = None
    offset: int | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in CANARY_KEYS}


@dataclass(frozen=True)
class Metadata:
    """What `AdminClient.list_topics()` returned, plus the canary's outcome when it ran."""

    brokers: tuple[Broker, ...]
    topics: dict[str, Topic]
    cluster_id: str | None = None
    controller_id: int | None = None
    bootstrap: str | None = None
    canary: CanaryResult | None = None

    def to_json(self) -> bytes:
        document: dict[str, Any] = {
            "bootstrap": self.bootstrap,
            "cluster_id": self.cluster_id,
            "controller_id": self.controller_id,
            "brokers": [{"id": b.id, "host": b.host, "port": b.port} for b in self.brokers],
            "topics": {name: {"partitions": t.partitions, "error": t.error} for name, t in sorted(self.topics.items())},
        }
        if self.canary is not None:
            document["canary"] = self.canary.as_json()
        return orjson.dumps(document, option=_JSON)


def _malformed(file: str, what: str) -> MalformedObject:
    return MalformedObject(f"{SERVICE}/{file}: {what}")


def _int(value: Any, where: str, minimum: int | None = None, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise _malformed(METADATA_FILE, f"{where}: expected an integer{bound}, got {value!r:.60}")
    return value


def _text(value: Any, where: str, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise _malformed(METADATA_FILE, f"{where}: expected a non-empty string, got {value!r:.60}")
    return value


def _canary(value: Any) -> CanaryResult:
    if not isinstance(value, dict):
        raise _malformed(METADATA_FILE, "canary: expected an object")
    ok = value.get("ok")
    if not isinstance(ok, bool):
        raise _malformed(METADATA_FILE, f"canary.ok: expected true or false, got {ok!r:.60}")
    stage = _text(value.get("stage"), "canary.stage", nullable=True)
    if stage is not None and stage not in CANARY_STAGES:
        raise _malformed(METADATA_FILE, f"canary.stage: expected one of {', '.join(CANARY_STAGES)}, got {stage!r}")
    if not ok and stage is None:
        raise _malformed(METADATA_FILE, "canary: ok is false but no stage says where it stopped")
    created = value.get("created", False)
    seconds = value.get("seconds", 0.0)
    if not isinstance(created, bool):
        raise _malformed(METADATA_FILE, f"canary.created: expected true or false, got {created!r:.60}")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise _malformed(METADATA_FILE, f"canary.seconds: expected a number, got {seconds!r:.60}")
    return CanaryResult(
        topic=_text(value.get("topic"), "canary.topic"),
        ok=ok,
        stage=stage,
        error=_text(value.get("error"), "canary.error", nullable=True),
        created=created,
        partition=_int(value.get("partition"), "canary.partition", 0, nullable=True),
        offset=_int(value.get("offset"), "canary.offset", 0, nullable=True),
        seconds=float(seconds),
    )


def parse_metadata(body: bytes) -> Metadata:
    """metadata.json, checked field by field; MalformedObject names the file and what is wrong."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _malformed(METADATA_FILE, f"not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise _malformed(METADATA_FILE, "expected a JSON object with brokers and topics")
    raw_brokers = document.get("brokers")
    if not isinstance(raw_brokers, list):
        raise _malformed(METADATA_FILE, "brokers: expected a list of {id, host, port}")
    brokers = []
    for index, raw in enumerate(raw_brokers):
        if not isinstance(raw, dict):
            raise _malformed(METADATA_FILE, f"brokers[{index}]: expected an object with id, host, port")
        brokers.append(
            Broker(
                _int(raw.get("id"), f"brokers[{index}].id", 0),
                _text(raw.get("host"), f"brokers[{index}].host"),
                _int(raw.get("port"), f"brokers[{index}].port", 0),
            )
        )
    raw_topics = document.get("topics")
    if not isinstance(raw_topics, dict):
        raise _malformed(METADATA_FILE, "topics: expected an object of name -> {partitions, error}")
    topics = {}
    for name, raw in raw_topics.items():
        if not TOPIC_NAME.fullmatch(name):
            raise _malformed(METADATA_FILE, f"topics: {name[:80]!r} is not a topic name")
        if not isinstance(raw, dict):
            raise _malformed(METADATA_FILE, f"topics[{name}]: expected an object with partitions and error")
        topics[name] = Topic(
            _int(raw.get("partitions"), f"topics[{name}].partitions", 0),
            _text(raw.get("error"), f"topics[{name}].error", nullable=True),
        )
    return Metadata(
        brokers=tuple(brokers),
        topics=topics,
        cluster_id=_text(document.get("cluster_id"), "cluster_id", nullable=True),
        controller_id=_int(document.get("controller_id"), "controller_id", nullable=True),
        bootstrap=_text(document.get("bootstrap"), "bootstrap", nullable=True),
        canary=_canary(document["canary"]) if document.get("canary") is not None else None,
    )


def parse_topic_list(body: bytes) -> list[str]:
    """topics.txt: one name per line as `kafka-topics --list` prints; blank lines ignored, anything else malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(TOPICS_FILE, "not UTF-8 text") from None
    names: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if not TOPIC_NAME.fullmatch(name):
            raise _malformed(
                TOPICS_FILE,
                f"line {number}: {name[:80]!r} is not a topic name (expected one name per line, "
                "as `kafka-topics --list` prints)",
            )
        names.add(name)
    return sorted(names)


def topic_list_text(metadata: Metadata) -> bytes:
    return "".join(f"{name}\n" for name in sorted(metadata.topics)).encode()


def sanitize(file: str, body: bytes) -> bytes:
    """Keep only what the checks read; a body that does not parse is left for the checks to report."""
    if file != METADATA_FILE:
        return body
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(document, dict):
        return body
    kept = {key: document[key] for key in METADATA_KEYS if key in document}
    if isinstance(kept.get("canary"), dict):
        kept["canary"] = {key: kept["canary"][key] for key in CANARY_KEYS if key in kept["canary"]}
    return orjson.dumps(kept, option=_JSON)


# ---------------------------------------------------------------------------------------------
# Live collection


@dataclass(frozen=True)
class ClientSettings:
    """librdkafka configuration for one run; holds the SASL password, so it is never stored or shown."""

    bootstrap: str
    config: dict[str, Any]
    secret: str | None = None

    def scrub(self, text: str) -> str:
        return text.replace(self.secret, "***") if self.secret else text

    def __repr__(self) -> str:
        return f"ClientSettings(bootstrap={self.bootstrap!r})"


def _section(profile: Profile) -> Kafka:
    kafka = profile.services.kafka if profile.services is not None else None
    if kafka is None:
        raise SourceError(SERVICE, "the profile has no services.kafka section")
    return kafka


def client_settings(kafka: Kafka, ctx: LiveContext) -> ClientSettings:
    """The profile's Kafka client settings with timeouts bounded by `timeout`; SourceError if unusable."""
    secrets = sorted(key for key in kafka.client if SECRET_PROPERTY.search(key))
    if secrets:
        raise SourceError(
            SERVICE,
            f"services.kafka.client sets {', '.join(secrets)}: secrets belong in services.kafka.sasl_password "
            "(read from the environment or a file), never in a profile",
        )
    bootstrap = kafka.bootstrap or kafka.client.get("bootstrap.servers")
    if not bootstrap:
        raise SourceError(SERVICE, "services.kafka.bootstrap is not set: the suite needs broker addresses it can reach")
    ms = max(1, round(kafka.timeout.total_seconds() * 1000))
    config: dict[str, Any] = {
        # librdkafka's defaults (30s to set up a connection, 60s per request, backoff up to 10s) outlast the
        # profile's timeout; each is bounded by it so a dead bootstrap fails within the timeout.
        "socket.timeout.ms": min(max(ms, 10), 300_000),
        "socket.connection.setup.timeout.ms": max(ms, 1000),
        "reconnect.backoff.max.ms": max(100, min(ms, 1000)),
        "client.id": CLIENT_ID,
        **kafka.client,
        "bootstrap.servers": bootstrap,
    }
    secret = None
    if kafka.sasl_password is not None:
        secret = ctx.credential(SERVICE, kafka.sasl_password)
        config["sasl.password"] = secret
    return ClientSettings(bootstrap, config, secret)


class _ErrorLog:
    """librdkafka's asynchronous errors (refused, unresolvable, auth failed): they say more than a timeout.

    Also the clients' logger. librdkafka logs from its own threads, also after the call that made the client
    has returned: passed to Python's logging (or left on stderr), its lines would land in whichever check's
    captured output is active, under a check they have nothing to do with. They are kept here instead, each
    distinct line once (librdkafka retries a dead broker many times a second), and said with Kafka's own error
    when the error callback said nothing.
    """

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.seen: list[str] = []
        self.logged: list[str] = []
        self._lock = threading.Lock()

    def log(self, level: int, message: str, *args: Any) -> None:
        if level < logging.WARNING:
            return
        text = RETRY_SUFFIX.sub("", self.settings.scrub(message % args if args else message)).strip()
        with self._lock:
            if text and text not in self.logged and len(self.logged) < MAX_LOGGED:
                self.logged.append(text)

    def __call__(self, error: Any) -> None:
        from confluent_kafka import KafkaError

        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            return  # a summary of the errors already seen
        self.add(error.str())

    def add(self, text: str) -> None:
        text = RETRY_SUFFIX.sub("", self.settings.scrub(text)).strip()
        with self._lock:
            if text and text not in self.seen:
                self.seen.append(text)

    def explain(self, what: str) -> str:
        with self._lock:
            said = self.seen[-3:] or self.logged[-3:]
        if not said:
            return self.settings.scrub(what)
        return self.settings.scrub(f"{what}: {'; '.join(said)}")


def _describe(exc: BaseException) -> str:
    """A KafkaException's KafkaError in words (`Local: Broker transport failure`), else the exception."""
    from confluent_kafka import KafkaError

    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return error.str() or error.name()
    return str(exc) or type(exc).__name__


def _client(kind: Any, settings: ClientSettings, errors: _ErrorLog, extra: dict[str, Any] | None = None) -> Any:
    from confluent_kafka import KafkaException

    config = {**settings.config, **(extra or {}), "error_cb": errors, "logger": errors}
    try:
        return kind(config)
    except (KafkaException, ValueError, TypeError) as exc:
        raise SourceError(SERVICE, f"client configuration: {settings.scrub(_describe(exc))}") from None


def read_metadata(settings: ClientSettings, timeout: float) -> Metadata:
    """Cluster metadata within `timeout` seconds; SourceError says why there is none."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    errors = _ErrorLog(settings)
    admin = _client(AdminClient, settings, errors)
    try:
        found = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        admin.poll(0)  # serves the error callback: why the brokers could not be reached
        reason = errors.explain(_describe(exc))
        raise SourceError(SERVICE, f"no metadata from {settings.bootstrap} within {timeout:g}s: {reason}") from None
    admin.poll(0)
    brokers = sorted((Broker(int(b.id), str(b.host), int(b.port)) for b in found.brokers.values()), key=lambda b: b.id)
    topics = {str(name): Topic(len(topic.partitions), _error_text(topic.error)) for name, topic in found.topics.items()}
    controller = found.controller_id
    return Metadata(
        brokers=tuple(brokers),
        topics=dict(sorted(topics.items())),
        cluster_id=str(found.cluster_id) if found.cluster_id else None,
        controller_id=int(controller) if isinstance(controller, int) and controller >= 0 else None,
        bootstrap=settings.bootstrap,
    )


def _error_text(error: Any) -> str | None:
    if error is None:
        return None
    return f"{error.name()}: {error.str()}"


def run_canary(settings: ClientSettings, topic: str, timeout: float, metadata: Metadata) -> CanaryResult:
    """Produce a uniquely keyed message and consume it back in a fresh consumer group, all within `timeout`.

    The consumer starts at the offset the broker acknowledged for the message: the canary never reads the
    topic's backlog and never relies on watermarks.
    """
    from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, Producer
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    began = time.monotonic()
    deadline = began + timeout
    errors = _ErrorLog(settings)
    created = False
    partition: int | None = None
    offset: int | None = None
    advertised = ", ".join(f"{b.host}:{b.port}" for b in metadata.brokers) or "none"

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    def stopped(stage: str, what: str) -> CanaryResult:
        reason = errors.explain(what)
        if stage != "create" and any("Connect to" in e or "resolve" in e for e in errors.seen):
            reason += f" (brokers advertise {advertised}: they must be reachable from where the suite runs)"
        return CanaryResult(topic, False, stage, reason, created, partition, offset, round(time.monotonic() - began, 3))

    if topic not in metadata.topics:
        admin = _client(AdminClient, settings, errors)
        replicas = max(1, min(3, len(metadata.brokers)))
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=replicas)],
            request_timeout=left(),
            operation_timeout=left(),
        )
        try:
            futures[topic].result(timeout=left())
            created = True
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not (isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                return stopped("create", f"creating topic {topic}: {_describe(exc)}")
        except concurrent.futures.TimeoutError:
            return stopped("create", f"creating topic {topic}: no answer within {timeout:g}s")

    key = f"conformance-canary-{uuid.uuid4().hex}".encode()
    acknowledged: list[tuple[Any, int | None, int | None]] = []
    producer = _client(Producer, settings, errors, {"message.timeout.ms": max(1, round(left() * 1000)), "linger.ms": 0})
    try:
        value = orjson.dumps({"sent_at": datetime.now(UTC).isoformat(), "by": CLIENT_ID})
        producer.produce(
            topic,
            key=key,
            value=value,
            on_delivery=lambda error, message: acknowledged.append((error, message.partition(), message.offset())),
        )
        producer.flush(left())
    except (KafkaException, BufferError) as exc:
        return stopped("produce", _describe(exc))
    if not acknowledged:
        producer.purge()
        producer.flush(0)
        return stopped("produce", f"no acknowledgement within {timeout:g}s")
    error, partition, offset = acknowledged[0]
    if error is not None:
        timed_out = error.code() == KafkaError._MSG_TIMED_OUT
        return stopped("produce", f"no acknowledgement within {timeout:g}s" if timed_out else error.str())

    group = f"conformance-canary-{uuid.uuid4().hex[:12]}"
    assigned: list[int] = []

    def on_assign(consumer: Any, partitions: list[Any]) -> None:
        # Start where the message landed; any other partition only from now on.
        for assignment in partitions:
            assignment.offset = offset if assignment.partition == partition else OFFSET_END
        consumer.assign(partitions)
        assigned.extend(p.partition for p in partitions)

    # Closing a consumer waits for in-flight requests (a JoinGroup) up to socket.timeout.ms: that wait is
    # kept short and reserved at the end of the budget so close() cannot stretch the canary past its timeout.
    reserve = min(2.0, max(1.2, timeout * 0.2))
    consumer = _client(
        Consumer,
        settings,
        errors,
        {
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # The broker's smallest default (group.min.session.timeout.ms): brokers and tansu complete a
            # new group's first join after a delay that grows with it.
            "session.timeout.ms": 6000,
            "socket.timeout.ms": round(reserve * 1000),
            "fetch.wait.max.ms": 100,
        },
    )
    try:
        consumer.subscribe([topic], on_assign=on_assign)
        while (remaining := left() - reserve) > 0:
            message = consumer.poll(min(0.5, remaining))
            if message is None:
                continue
            if message.error() is not None:
                errors.add(message.error().str())
                continue
            if message.key() == key:
                return CanaryResult(
                    topic, True, None, None, created, partition, offset, round(time.monotonic() - began, 3)
                )
    except (KafkaException, RuntimeError) as exc:
        return stopped("consume", _describe(exc))
    finally:
        consumer.close()
    if not assigned:
        return stopped("consume", f"no partition assigned to consumer group {group} within {timeout:g}s")
    return stopped("consume", f"message at {topic}[{partition}]@{offset} not consumed back within {timeout:g}s")


def collect(ctx: LiveContext) -> dict[str, bytes]:
    """metadata.json and topics.txt from the brokers; the canary's outcome in metadata.json when enabled."""
    kafka = _section(ctx.profile)
    settings = client_settings(kafka, ctx)
    timeout = kafka.timeout.total_seconds()
    metadata = read_metadata(settings, timeout)
    if kafka.canary.enabled:
        metadata = replace(metadata, canary=run_canary(settings, kafka.canary.topic, timeout, metadata))
    return {TOPICS_FILE: topic_list_text(metadata), METADATA_FILE: metadata.to_json()}


SOURCE = ServiceSource(SERVICE, (METADATA_FILE, TOPICS_FILE), collect, sanitize)


# ---------------------------------------------------------------------------------------------
# Expectations and evaluation


@dataclass(frozen=True)
class BrokerCount:
    count: int
    source: str | None = None
    note: str | None = None
    origin: str | None = None
    basis: str | None = None

    def __str__(self) -> str:
        return f"exactly {self.count} broker{'' if self.count == 1 else 's'}"


@dataclass(frozen=True)
class TopicSet:
    min: int
    prefixes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    source: str | None = None
    note: str | None = None
    origin: str | None = None
    basis: str | None = None

    @property
    def pattern(self) -> str:
        if not self.prefixes:
            return "anything (internal __ topics aside)"
        shown = [f"{p}*" for p in self.prefixes]
        return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"

    def counts(self, name: str) -> bool:
        if name.startswith(INTERNAL_PREFIX):
            return False
        return not self.prefixes or name.startswith(self.prefixes)

    def __str__(self) -> str:
        parts = []
        if self.min or not self.names:
            parts.append(f"at least {self.min} topics named {self.pattern}")
        if self.names:
            parts.append(f"the topics {', '.join(self.names)}")
        return " and ".join(parts)


@dataclass(frozen=True)
class CanaryRoundTrip:
    topic: str
    timeout: timedelta
    source: str | None = None
    note: str | None = None
    origin: str | None = None
    basis: str | None = None

    def __str__(self) -> str:
        return f"a message produced to {self.topic} is consumed back within {format_duration(self.timeout)}"


def _kafka(profile: Profile) -> Kafka | None:
    return profile.services.kafka if profile.services is not None else None


def expand_brokers(profile: Profile) -> Expansion[BrokerCount]:
    kafka = _kafka(profile)
    if kafka is None or kafka.brokers is None:
        return None
    return [("brokers", BrokerCount(kafka.brokers, kafka.source, kafka.note, kafka.origin, kafka.basis))]


def expand_topics(profile: Profile) -> Expansion[TopicSet]:
    kafka = _kafka(profile)
    if kafka is None or kafka.topics is None:
        return None
    t = kafka.topics
    return [
        (
            "topics",
            TopicSet(t.min, tuple(t.prefixes), tuple(t.names), kafka.source, kafka.note, kafka.origin, kafka.basis),
        )
    ]


def expand_canary(profile: Profile) -> Expansion[CanaryRoundTrip]:
    kafka = _kafka(profile)
    if kafka is None or not kafka.canary.enabled:
        return None
    return [
        (
            "canary",
            CanaryRoundTrip(kafka.canary.topic, kafka.timeout, kafka.source, kafka.note, kafka.origin, kafka.basis),
        )
    ]


def _listing(names: Iterable[str]) -> str:
    shown = list(names)
    if not shown:
        return "none"
    text = ", ".join(shown[:MAX_LISTED])
    return text + (f" and {len(shown) - MAX_LISTED} more" if len(shown) > MAX_LISTED else "")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def metadata_of(state: ClusterState) -> Metadata:
    return parse_metadata(state.document(SERVICE, METADATA_FILE))


def listed_topics(state: ClusterState) -> tuple[dict[str, str | None], str]:
    """Topic name -> metadata error (None: served fine), and the file it came from.

    metadata.json when present (it carries per-topic errors), else topics.txt, the report's own method.
    """
    file, body = state.first_document(SERVICE, (METADATA_FILE, TOPICS_FILE))
    if file == TOPICS_FILE:
        return dict.fromkeys(parse_topic_list(body)), file
    return {name: topic.error for name, topic in sorted(parse_metadata(body).topics.items())}, file


def kafka_brokers(state: ClusterState, expected: BrokerCount, _profile: Profile) -> Finding:
    metadata = metadata_of(state)
    count = len(metadata.brokers)
    listing = _listing(str(b) for b in metadata.brokers)
    cluster = f"cluster {metadata.cluster_id}" if metadata.cluster_id else "the cluster"
    observed = f"{_plural(count, 'broker')} in the metadata of {cluster}: {listing}"
    culprits = []
    if count != expected.count:
        culprits.append(Culprit(f"kafka {cluster}", f"{_plural(count, 'broker')} listed ({listing})"))
    return Finding(
        expected=f"{expected} in the cluster metadata",
        observed=observed,
        inspected=count,
        culprits=culprits,
        evidence=(f"{SERVICE}/{METADATA_FILE}",),
    )


def kafka_topics(state: ClusterState, expected: TopicSet, _profile: Profile) -> Finding:
    listed, file = listed_topics(state)
    # A topic the brokers list with an error (no leader, ...) cannot be used: it is not counted as present.
    broken = {name: error for name, error in listed.items() if error is not None}
    counted = [n for n in listed if expected.counts(n) and n not in broken]
    others = [n for n in listed if not expected.counts(n) and n not in broken]
    culprits = []
    if len(counted) < expected.min:
        culprits.append(Culprit(f"topics named {expected.pattern}", f"{len(counted)} of at least {expected.min}"))
    for name in expected.names:
        if name in broken:
            culprits.append(Culprit(name, f"listed with error {broken[name]}"))
        elif name not in listed:
            culprits.append(Culprit(name, f"not found among {_plural(len(listed), 'topic')}"))
    observed = (
        f"{_plural(len(counted), 'topic')} named {expected.pattern} ({_listing(counted)}); "
        f"{len(others)} other ({_listing(others)})"
    )
    if broken:
        observed += f"; {len(broken)} listed with an error ({_listing(f'{n}: {e}' for n, e in broken.items())})"
    if expected.names:
        present = [n for n in expected.names if n in listed and n not in broken]
        observed += f"; {len(present)} of {len(expected.names)} required topics present"
    return Finding(
        expected=str(expected),
        observed=observed,
        inspected=len(listed),
        culprits=culprits,
        evidence=(f"{SERVICE}/{file}",),
    )


def kafka_canary(state: ClusterState, expected: CanaryRoundTrip, _profile: Profile) -> Finding:
    canary = metadata_of(state).canary
    if canary is None:
        raise CouldNotEvaluate(
            f"{SERVICE}/{METADATA_FILE} has no canary result: the canary runs in live runs with "
            "services.kafka.canary.enabled"
        )
    if canary.stage == "create":
        # Not a verdict on the platform: the suite could not set up its own probe (ACLs, topic policy).
        raise CouldNotEvaluate(f"canary topic {canary.topic}: {canary.error or 'could not be created'}")
    landed = f"{canary.topic}[{canary.partition}]@{canary.offset}" if canary.offset is not None else canary.topic
    culprits = []
    if canary.ok:
        observed = f"message produced to {landed} and consumed back in {canary.seconds:g}s"
        if canary.created:
            observed += f" (topic {canary.topic} created by this run)"
    else:
        observed = f"the canary stopped at {canary.stage} after {canary.seconds:g}s"
        culprits.append(Culprit(canary.topic, f"{canary.stage} failed: {canary.error or 'no reason recorded'}"))
    return Finding(
        expected=str(expected),
        observed=observed,
        inspected=1,
        culprits=culprits,
        evidence=(f"{SERVICE}/{METADATA_FILE}",),
    )
