"""The profile model: every expectation a run judges, typed, with unknown keys rejected.

Each section maps onto one area of checks. Entries may carry `source` (where the expectation
comes from: a report section or ticket) and `note` (why it is what it is), both shown in reports.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictBool, model_validator

from conformance.profile.model_base import Located, Strict, Traced
from conformance.profile.services import Services
from conformance.profile.types import (
    Count,
    Duration,
    Namespace,
    ObjectName,
    Quantity,
    Ratio,
    ResourceName,
    Text,
)

API_VERSION = "conformance/v1alpha1"


class Metadata(Strict):
    name: ObjectName
    description: Text | None = None
    provenance: Literal["required", "optional"] = Field(
        default="optional",
        description="required: every expectation must carry a source or an explicit basis (not inherited).",
    )


class Collection(Strict):
    """How a live run reads the API server."""

    page_size: Count = Field(
        default=500,
        ge=1,
        le=10000,
        description="Items per list page (limit). A real API server pages consistent reads only: a list from its "
        "watch cache (resourceVersion=0, the default) comes in one response whatever the limit.",
    )
    connect_timeout: Duration = Field(default=timedelta(seconds=5))
    read_timeout: Duration = Field(default=timedelta(seconds=30))
    retries: Count = Field(default=4, le=20, description="Retries for 429, 5xx and connection errors.")
    budget: Duration = Field(
        default=timedelta(minutes=5),
        gt=timedelta(0),
        description="Total time for collecting every resource and service; requests and retry waits stay within it "
        "(--budget overrides).",
    )
    consistent_reads: StrictBool = Field(
        default=False,
        description="Read from etcd (resourceVersion unset), page by page, instead of from the API server's watch "
        "cache in one response per list.",
    )
    settle: Duration | None = Field(
        default=None,
        description="Live runs: re-collect until the Kubernetes checks pass, for at most this long (--settle).",
    )
    hold: Duration | None = Field(
        default=None,
        description="Live runs: then watch pods this long for new restarts, failures or replacements (--hold).",
    )
    settle_interval: Duration = Field(
        default=timedelta(seconds=5),
        gt=timedelta(0),
        description="Pause between re-collections while settling or holding.",
    )
    evidence: Literal["judged", "whole"] = Field(
        default="judged",
        description="Live runs: evidence of each list as the fields the checks judge (the default; the objects "
        "the verdicts rest on, unchanged) or as whole objects, stripped and redacted (about twice the run's "
        "cost on large clusters).",
    )


class NamespacePods(Traced):
    namespace: Namespace
    min: Count | None = Field(default=None, description="At least this many pods (not failed, not terminating).")
    max: Count | None = None

    @model_validator(mode="after")
    def _bounds(self) -> NamespacePods:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    @property
    def id(self) -> str:
        return self.namespace

    def __str__(self) -> str:
        return f"namespace {self.namespace}"


class Pods(Traced):
    grace: Duration = Field(
        default=timedelta(minutes=5),
        description="How long a pod may be Pending, NotReady or Terminating before it counts as failing.",
    )
    failed_pods_fail: StrictBool = Field(
        default=True, description="Whether Failed leftovers (Evicted, Error) count as failing pods."
    )
    ignore_namespaces: list[Namespace] = Field(default_factory=list)
    namespaces: list[NamespacePods] = Field(default_factory=list)


WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet"]


class WorkloadRef(Traced):
    namespace: Namespace
    kind: WorkloadKind
    name: ObjectName

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class RequiredWorkload(WorkloadRef):
    replicas: Count | None = Field(default=None, description="Ready replicas expected (not for DaemonSets).")
    every_node: StrictBool = Field(
        default=False, description="DaemonSets: a ready pod on every Ready, schedulable node."
    )
    containers: Count | None = Field(
        default=None, ge=1, description="Containers per pod, sidecars included, all ready (kubectl READY)."
    )

    @model_validator(mode="after")
    def _replicas_fit_kind(self) -> RequiredWorkload:
        if self.kind == "DaemonSet":
            if self.replicas is not None:
                raise ValueError("a DaemonSet has no replicas; use every_node: true")
        elif self.replicas is None:
            raise ValueError(f"a {self.kind} needs replicas")
        elif self.every_node:
            raise ValueError("every_node applies to DaemonSets only")
        return self


class Workloads(Strict):
    required: list[RequiredWorkload] = Field(default_factory=list)
    absent: list[WorkloadRef] = Field(default_factory=list, description="Removed components that must stay gone.")
    scaled_down: list[WorkloadRef] = Field(
        default_factory=list,
        description="Components parked at zero replicas: still at zero, or scaled up and fully ready.",
    )


class JobRef(Traced):
    namespace: Namespace
    name: ObjectName

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"Job {self.namespace}/{self.name}"


class Jobs(Strict):
    completed: list[JobRef] = Field(default_factory=list)


class NamespaceLabels(Traced):
    namespace: Namespace
    labels: dict[str, Text]

    @property
    def id(self) -> str:
        return self.namespace

    def __str__(self) -> str:
        return f"namespace {self.namespace}"


class Namespaces(Strict):
    labels: list[NamespaceLabels] = Field(default_factory=list)


class PeerAuthentication(Traced):
    namespace: Namespace = "istio-system"
    name: ObjectName = "default"
    mode: Literal["STRICT", "PERMISSIVE", "DISABLE", "UNSET"]

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"PeerAuthentication {self.namespace}/{self.name}"


MtlsMode = Literal["STRICT", "PERMISSIVE", "DISABLE"]


class NamespaceMtls(Traced):
    """The mTLS mode every workload of a namespace ends up with, all PeerAuthentications applied."""

    namespace: Namespace
    mode: MtlsMode

    @property
    def id(self) -> str:
        return self.namespace

    def __str__(self) -> str:
        return f"namespace {self.namespace}"


class Mesh(Strict):
    peer_authentication: PeerAuthentication | None = None
    root_namespace: Namespace = Field(
        default="istio-system", description="Istio's root namespace (meshConfig.rootNamespace): mesh-wide policy."
    )
    mtls: list[NamespaceMtls] = Field(
        default_factory=list,
        description="Effective mTLS mode per namespace and workload: mesh-wide < namespace-wide < workload "
        "selector < port-level, UNSET inheriting, the oldest policy winning among equals.",
    )


class ObjectCount(Traced):
    name: ObjectName = Field(description="A short id for the rule, used in test ids.")
    resources: list[ResourceName] = Field(min_length=1, description="Resources counted together.")
    min: Count

    @property
    def id(self) -> str:
        return self.name

    def __str__(self) -> str:
        return f"{self.name} ({' + '.join(self.resources)})"


class Objects(Strict):
    minimum: list[ObjectCount] = Field(default_factory=list)


class Resources(Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Nodes(Traced):
    count: Count | None = Field(default=None, description="Exact number of nodes.")
    min_capacity: Resources | None = Field(default=None, description="Cluster capacity at least this.")


class Thresholds(Strict):
    cpu: Ratio | None = None
    memory: Ratio | None = None


class Capacity(Traced):
    source_of_usage: Literal["metrics", "prometheus"] = Field(
        default="metrics",
        description="metrics.k8s.io (kubectl top), or Prometheus with the kubernetes-mixin recording rules.",
    )
    usage: Thresholds | None = Field(
        default=None, description="metrics.k8s.io usage over node allocatable, cluster-wide (kubectl top)."
    )
    requests: Thresholds | None = Field(
        default=None, description="Requests of running pods over node allocatable, cluster-wide."
    )


class Storage(Traced):
    pvcs_bound: StrictBool = False
    min_pvcs: Count = Field(default=1, description="Fewer claims than this cannot be judged.")


# cpu, memory, ephemeral-storage, nvidia.com/gpu: the names a container's resources use.
ComputeResource = Annotated[
    str, Field(pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", strict=True)
]


class ContainerResources(WorkloadRef):
    """Requests and limits a workload's container must declare, in its pod template and its running pods."""

    container: ObjectName
    requests: list[ComputeResource] = Field(default_factory=list, description="Resources it must request: cpu, memory.")
    limits: list[ComputeResource] = Field(default_factory=list, description="Resources it must limit: cpu, memory.")

    @model_validator(mode="after")
    def _asks_something(self) -> ContainerResources:
        if not self.requests and not self.limits:
            raise ValueError("name at least one of requests or limits")
        return self

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}/{self.container}"

    def __str__(self) -> str:
        return f"container {self.container} of {self.kind} {self.namespace}/{self.name}"


class Containers(Strict):
    resources: list[ContainerResources] = Field(default_factory=list)


class Component(Traced):
    """A platform component found by its pods' labels (`kubectl get pods -n NS -l KEY=VALUE`)."""

    namespace: Namespace
    labels: dict[str, Text] = Field(min_length=1, description="Labels its pods carry, all of them.")
    min_ready: Count = Field(default=1, ge=1, description="At least this many ready pods; every one found ready.")

    @property
    def selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))

    def __str__(self) -> str:
        return f"pods {self.selector} in {self.namespace}"


class Dns(Component):
    namespace: Namespace = "kube-system"
    labels: dict[str, Text] = Field(
        default_factory=lambda: {"k8s-app": "kube-dns"},
        min_length=1,
        description="CoreDNS and kube-dns both label their pods k8s-app=kube-dns.",
    )

    @property
    def id(self) -> str:
        return "dns"


class IngressController(Component):
    namespace: Namespace = "ingress-nginx"
    labels: dict[str, Text] = Field(
        default_factory=lambda: {
            "app.kubernetes.io/name": "ingress-nginx",
            "app.kubernetes.io/component": "controller",
        },
        min_length=1,
    )

    @property
    def id(self) -> str:
        return "controller"


class IngressRef(Traced):
    namespace: Namespace
    name: ObjectName

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"Ingress {self.namespace}/{self.name}"


class NetworkPolicyCount(Traced):
    namespace: Namespace
    min: Count = Field(ge=1, description="At least this many NetworkPolicies in the namespace.")

    @property
    def id(self) -> str:
        return self.namespace

    def __str__(self) -> str:
        return f"namespace {self.namespace}"


class Network(Strict):
    dns: Dns | None = Field(default=None, description="The cluster DNS pods ready.")
    ingress_controller: IngressController | None = Field(default=None, description="The ingress controller ready.")
    ingresses: list[IngressRef] = Field(
        default_factory=list, description="Ingresses admitted: an address in status.loadBalancer.ingress."
    )
    network_policies: list[NetworkPolicyCount] = Field(default_factory=list)


class Waiver(Located):
    """A granted exception: a failing check (or some of its culprits) reported as waived until it expires."""

    check: Text = Field(
        description="Test name with its id, e.g. test_workload_ready[kong/Deployment/kong]; * matches any text.",
    )
    culprits: list[Text] = Field(default_factory=list, description="Only these culprits; empty: all of them.")
    reason: Text
    owner: Text
    ticket: Text
    expires: date = Field(strict=True, description="Last day the waiver applies (judged against the collection time).")

    @property
    def id(self) -> str:
        return self.ticket

    def matches(self, test_name: str) -> bool:
        pattern = "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", self.check))
        return re.fullmatch(pattern, test_name) is not None

    def __str__(self) -> str:
        return f"waiver {self.ticket} ({self.owner}) for {self.check}"


class Profile(Strict):
    api_version: Literal["conformance/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Profile"]
    metadata: Metadata
    extends: Text | None = Field(default=None, description="A profile name or path this one overlays.")
    collection: Collection = Field(default_factory=Collection)
    pods: Pods | None = None
    workloads: Workloads | None = None
    jobs: Jobs | None = None
    namespaces: Namespaces | None = None
    mesh: Mesh | None = None
    objects: Objects | None = None
    nodes: Nodes | None = None
    capacity: Capacity | None = None
    storage: Storage | None = None
    containers: Containers | None = None
    network: Network | None = None
    services: Services | None = None
    waivers: list[Waiver] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
