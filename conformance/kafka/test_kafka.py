"""Kafka: the broker count, the platform's event topics, and (when enabled) a produce/consume round trip."""

from conformance.check import Finding, check
from conformance.kafka import topics


@check(
    area="kafka",
    requirement="the Kafka cluster metadata lists {e}",
    expand=topics.expand_brokers,
    reads=(topics.SOURCE,),
    evaluate=topics.kafka_brokers,
)
def test_kafka_brokers(finding: Finding) -> None:
    finding.conforms()


@check(
    area="kafka",
    requirement="Kafka has {e}",
    expand=topics.expand_topics,
    reads=(topics.SOURCE,),
    evaluate=topics.kafka_topics,
)
def test_kafka_topics(finding: Finding) -> None:
    finding.conforms()


@check(
    area="kafka",
    requirement="{e}",
    expand=topics.expand_canary,
    reads=(topics.SOURCE,),
    evaluate=topics.kafka_canary,
)
def test_kafka_canary(finding: Finding) -> None:
    finding.conforms()
