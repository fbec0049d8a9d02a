"""Kafka: the broker count, the platform's event topics, and (when enabled) a produce/consume round trip."""

from conformance.check import Finding, check
from conformance.kafka import topics


@check(
    area="kafka",
    requirement="the Kafka cluster metadata lists {e}",
    expand=topics.expand_brokers,
    reads=(topics.SOURCE,),
    evaluate=topics.kafka_brokers,
    severity="critical",
    remediation="kubectl -n data-platform get pods -l app=kafka; check broker logs and advertised listeners",
)
def test_kafka_brokers(finding: Finding) -> None:
    finding.conforms()


@check(
    area="kafka",
    requirement="Kafka has {e}",
    expand=topics.expand_topics,
    reads=(topics.SOURCE,),
    evaluate=topics.kafka_topics,
    severity="critical",
    remediation=(
        "kafka-topics --bootstrap-server ... --list; re-create the missing topics from the platform's topic definitions"
    ),
)
def test_kafka_topics(finding: Finding) -> None:
    finding.conforms()


@check(
    area="kafka",
    requirement="{e}",
    expand=topics.expand_canary,
    reads=(topics.SOURCE,),
    evaluate=topics.kafka_canary,
    severity="critical",
    remediation="Check producer/consumer connectivity, advertised listeners and ACLs for the canary topic",
)
def test_kafka_canary(finding: Finding) -> None:
    finding.conforms()
