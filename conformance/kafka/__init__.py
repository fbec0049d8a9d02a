"""Kafka checks: brokers and topics from cluster metadata, and an optional produce/consume canary."""
