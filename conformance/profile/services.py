"""Profile sections for service checks: how each service is reached and what it must report."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, model_validator

from conformance.profile.model_base import Strict, Traced
from conformance.profile.types import Count, Duration, Namespace, ObjectName, Ratio, Text

SyncType = Literal["CDS", "LDS", "EDS", "RDS", "ECDS"]
DEFAULT_SYNC_TYPES: tuple[SyncType, ...] = ("CDS", "LDS", "EDS", "RDS")


class ServiceRef(Strict):
    """Through the API server's service proxy: /api/v1/namespaces/{ns}/services/{scheme:}{name}:{port}/proxy/."""

    namespace: Namespace
    name: ObjectName
    port: StrictInt | StrictStr
    scheme: Literal["http", "https"] = "http"


class PortForwardRef(Strict):
    """A port-forward to a ready pod of the service (or a named pod), as istioctl does for istiod."""

    namespace: Namespace
    service: ObjectName | None = None
    pod: ObjectName | None = None
    port: Count

    @model_validator(mode="after")
    def _one_target(self) -> PortForwardRef:
        if (self.service is None) == (self.pod is None):
            raise ValueError("set exactly one of service or pod")
        return self


class Access(Strict):
    """How to reach a service: exactly one of url, service (API server proxy) or port_forward."""

    url: Text | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    service: ServiceRef | None = None
    port_forward: PortForwardRef | None = None
    timeout: Duration = Field(default=timedelta(seconds=10))
    retries: Count = Field(default=2, le=10)

    @model_validator(mode="after")
    def _exactly_one(self) -> Access:
        chosen = [m for m in ("url", "service", "port_forward") if getattr(self, m) is not None]
        if len(chosen) != 1:
            raise ValueError(f"set exactly one of url, service, port_forward (got {', '.join(chosen) or 'none'})")
        return self

    def describe(self) -> str:
        if self.url is not None:
            return self.url
        if self.service is not None:
            s = self.service
            return f"service proxy {s.namespace}/{s.name}:{s.port}"
        assert self.port_forward is not None
        p = self.port_forward
        return f"port-forward {p.namespace}/{p.service or p.pod}:{p.port}"


class Credential(Strict):
    """A secret read at run time from an environment variable or a file; never written in a profile."""

    env: Text | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    file: Text | None = None
    scheme: Literal["bearer", "basic"] = Field(
        default="bearer", description="bearer: the value is a token; basic: the value is user:password."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Credential:
        if (self.env is None) == (self.file is None):
            raise ValueError("set exactly one of env or file")
        return self


class NotSent(Strict):
    """Where NOT SENT is acceptable: a type, optionally only for proxies of one namespace."""

    type: SyncType
    namespace: Namespace | None = None


class ProxyExpectation(Traced):
    namespace: Namespace
    workload: ObjectName = Field(description="Pod name prefix before the ReplicaSet hash, e.g. kong.")
    min: Count = 1

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.workload}"

    def __str__(self) -> str:
        return f"proxies of {self.namespace}/{self.workload}"


class Istio(Traced):
    access: Access = Field(
        default_factory=lambda: Access(
            port_forward=PortForwardRef(namespace="istio-system", service="istiod", port=15014)
        )
    )
    types: list[SyncType] = Field(default_factory=lambda: list(DEFAULT_SYNC_TYPES))
    not_sent_allowed: list[NotSent] = Field(default_factory=list)
    proxies: list[ProxyExpectation] = Field(default_factory=list)
    min_sidecars: Count | None = None


class Kong(Traced):
    access: Access = Field(
        default_factory=lambda: Access(service=ServiceRef(namespace="kong", name="kong-admin", port=8001))
    )
    credentials: Credential | None = Field(default=None, description="Admin API token (sent as Kong-Admin-Token).")
    storage: Literal["database", "dbless"] | None = Field(
        default=None,
        description="Pins Kong's storage mode: database (reachable database), dbless (a loaded declarative "
        "configuration); unset, either passes.",
    )


class KafkaTopics(Strict):
    min: Count = 0
    prefixes: list[Text] = Field(default_factory=list)
    names: list[Text] = Field(default_factory=list)


class KafkaCanary(Strict):
    enabled: StrictBool = False
    topic: Text = "conformance-canary"


class Kafka(Traced):
    bootstrap: Text | None = Field(
        default=None, description="host:port[,host:port] of brokers reachable from where the suite runs."
    )
    timeout: Duration = Field(default=timedelta(seconds=10))
    brokers: Count | None = Field(default=None, description="Exact number of brokers in the metadata.")
    topics: KafkaTopics | None = None
    canary: KafkaCanary = Field(default_factory=KafkaCanary)
    client: dict[str, Text] = Field(
        default_factory=dict, description="Extra librdkafka settings (no secrets; use sasl_password)."
    )
    sasl_password: Credential | None = None


class PortalTarget(Traced):
    """A registered name and the workload behind it; its provenance is its own (a report may name the services
    and not the workloads behind them)."""

    service: Text = Field(description="The name the portal registers.")
    namespace: Namespace
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    name: ObjectName


class Portal(Traced):
    access: Access = Field(
        default_factory=lambda: Access(service=ServiceRef(namespace="data-platform", name="portal-services", port=8080))
    )
    path: Text = "/api/services"
    list_key: Text | None = Field(
        default=None, description="Key of the list in an object response; unset: a list, or an object's 'services'."
    )
    name_field: Text = "name"
    expected: list[Text] = Field(default_factory=list)
    targets: list[PortalTarget] = Field(default_factory=list)


class ServiceMonitors(Traced):
    """Every ServiceMonitor has an up target (scrape pools serviceMonitor/<namespace>/<name>/<endpoint>)."""

    namespaces: list[Namespace] = Field(
        default_factory=list, description="Only the ServiceMonitors of these namespaces; empty: all of them."
    )


class MeshWorkload(Strict):
    namespace: Namespace
    name: ObjectName = Field(description="destination_workload, as Istio labels its requests.")


class MeshTraffic(Traced):
    """Requests through the mesh (istio_requests_total) per destination namespace or workload."""

    namespaces: list[Namespace] = Field(default_factory=list)
    workloads: list[MeshWorkload] = Field(default_factory=list)
    max_error_ratio: Ratio = Field(description="Highest share of 5xx responses over the last 5 minutes.")


class VolumeUsage(Traced):
    """PVC fill (kubelet_volume_stats_used_bytes over capacity_bytes) of every volume Prometheus sees."""

    max_used_ratio: Ratio


class Prometheus(Traced):
    access: Access = Field(
        default_factory=lambda: Access(service=ServiceRef(namespace="monitoring", name="prometheus", port=9090))
    )
    min_up_ratio: Ratio = 1.0
    jobs: list[Text] = Field(default_factory=list)
    service_monitors: ServiceMonitors | None = None
    mesh: MeshTraffic | None = None
    volumes: VolumeUsage | None = None


class Grafana(Traced):
    access: Access = Field(
        default_factory=lambda: Access(service=ServiceRef(namespace="monitoring", name="grafana", port=80))
    )
    credentials: Credential | None = None
    dashboards: list[Text] = Field(default_factory=list)


class Jaeger(Traced):
    access: Access = Field(
        default_factory=lambda: Access(service=ServiceRef(namespace="istio-system", name="jaeger-query", port=16686))
    )
    api: Literal["auto", "v1", "v3"] = "auto"
    min_services: Count = 1
    services: list[Text] = Field(default_factory=list)


class Services(Strict):
    istio: Istio | None = None
    kong: Kong | None = None
    kafka: Kafka | None = None
    portal: Portal | None = None
    prometheus: Prometheus | None = None
    grafana: Grafana | None = None
    jaeger: Jaeger | None = None
