"""Which service sources a profile configures, for capturing a live cluster's services into a snapshot."""

from __future__ import annotations

import importlib

from conformance.profile.model import Profile
from conformance.services.source import ServiceSource

# profile section -> module defining its `SOURCE`; imported only when configured, so a profile
# without Kafka never loads the Kafka client.
MODULES = {
    "istio": "conformance.istio.proxies",
    "kong": "conformance.kong.gateway",
    "kafka": "conformance.kafka.topics",
    "portal": "conformance.portal.registry",
    "prometheus": "conformance.monitoring.prometheus",
    "grafana": "conformance.monitoring.grafana",
    "jaeger": "conformance.monitoring.jaeger",
}


def sources_for(profile: Profile) -> list[ServiceSource]:
    services = profile.services
    if services is None:
        return []
    found: list[ServiceSource] = []
    for section, module in MODULES.items():
        if getattr(services, section) is not None:
            source = importlib.import_module(module).SOURCE
            assert isinstance(source, ServiceSource)
            found.append(source)
    return found
