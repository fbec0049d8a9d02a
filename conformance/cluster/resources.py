"""The Kubernetes resources the suite can read, named as kubectl and the snapshot files name them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A listable resource: `pods`, `deployments.apps`, `virtualservices.networking.istio.io`.

    `version` is None for groups whose served version varies between clusters (Istio's
    v1alpha3/v1beta1/v1): a live run asks discovery for the preferred one.
    """

    plural: str
    group: str = ""
    kind: str = ""
    namespaced: bool = True
    version: str | None = None

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def snapshot_file(self) -> str:
        return f"kubernetes/{self.name}.json"

    def __str__(self) -> str:
        return self.name


_KNOWN = [
    Resource("pods", "", "Pod", True, "v1"),
    Resource("nodes", "", "Node", False, "v1"),
    Resource("namespaces", "", "Namespace", False, "v1"),
    Resource("persistentvolumeclaims", "", "PersistentVolumeClaim", True, "v1"),
    Resource("services", "", "Service", True, "v1"),
    Resource("deployments", "apps", "Deployment", True, "v1"),
    Resource("statefulsets", "apps", "StatefulSet", True, "v1"),
    Resource("daemonsets", "apps", "DaemonSet", True, "v1"),
    Resource("replicasets", "apps", "ReplicaSet", True, "v1"),
    Resource("jobs", "batch", "Job", True, "v1"),
    Resource("nodes", "metrics.k8s.io", "NodeMetrics", False, "v1beta1"),
    Resource("peerauthentications", "security.istio.io", "PeerAuthentication"),
    Resource("authorizationpolicies", "security.istio.io", "AuthorizationPolicy"),
    Resource("virtualservices", "networking.istio.io", "VirtualService"),
    Resource("destinationrules", "networking.istio.io", "DestinationRule"),
    Resource("servicemonitors", "monitoring.coreos.com", "ServiceMonitor"),
    Resource("ingresses", "networking.k8s.io", "Ingress", True, "v1"),
    Resource("networkpolicies", "networking.k8s.io", "NetworkPolicy", True, "v1"),
]
KNOWN: dict[str, Resource] = {r.name: r for r in _KNOWN}

PODS = KNOWN["pods"]
NODES = KNOWN["nodes"]
NAMESPACES = KNOWN["namespaces"]
PVCS = KNOWN["persistentvolumeclaims"]
JOBS = KNOWN["jobs.batch"]
NODE_METRICS = KNOWN["nodes.metrics.k8s.io"]
PEER_AUTHENTICATIONS = KNOWN["peerauthentications.security.istio.io"]
INGRESSES = KNOWN["ingresses.networking.k8s.io"]
NETWORK_POLICIES = KNOWN["networkpolicies.networking.k8s.io"]
WORKLOADS = {
    "Deployment": KNOWN["deployments.apps"],
    "StatefulSet": KNOWN["statefulsets.apps"],
    "DaemonSet": KNOWN["daemonsets.apps"],
}


def resource(name: str) -> Resource:
    """The known resource, or one described by its `plural.group` name (kind and scope from discovery)."""
    if name in KNOWN:
        return KNOWN[name]
    plural, _, group = name.partition(".")
    return Resource(plural, group)
