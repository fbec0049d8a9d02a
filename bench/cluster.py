"""A realistic large cluster, generated: pods as the API server returns them, with their owners and policies.

Per application namespace (`team-0000`, ...): four Deployments (`svc-0`..`svc-3`, four replicas each, each
with its ReplicaSet), one StatefulSet (`db`, two replicas and their PVCs), two completed Jobs, an
AuthorizationPolicy, two VirtualServices and two DestinationRules. The system namespaces run three
DaemonSets on every node and the mesh's PeerAuthentication. 50 nodes with metrics. Pods are ~6 KB of
JSON like real ones: managedFields, an istio-proxy sidecar with probes and env, conditions, volumes.

A mix of states, the same at every size: a few pods in CrashLoopBackOff, a Pending one still within its
grace, an Evicted leftover, a pod being deleted; everything else Running or Completed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Obj = dict[str, Any]

NODES = 50
PODS_PER_NAMESPACE = 20  # 4 Deployments x 4 replicas, a StatefulSet of 2, 2 Job pods
DEPLOYMENTS = ("svc-0", "svc-1", "svc-2", "svc-3")
DAEMONSETS = (("kube-system", "kube-proxy"), ("kube-system", "node-exporter"), ("istio-system", "istio-cni-node"))
SYSTEM_NAMESPACES = ("kube-system", "istio-system")
NODE_CPU, NODE_MEMORY_GI = 64, 256
# Requests are spread so the whole cluster asks for about 60% of allocatable, whatever its size.
REQUESTED_SHARE = 0.6


@dataclass(frozen=True)
class Shape:
    """How many of each object a cluster of `pods` pods has."""

    pods: int

    @property
    def namespaces(self) -> int:
        return max(10, round((self.pods - NODES * len(DAEMONSETS)) / PODS_PER_NAMESPACE))

    @property
    def total_pods(self) -> int:
        return self.namespaces * PODS_PER_NAMESPACE + NODES * len(DAEMONSETS)


def _uid(*parts: str) -> str:
    digest = hashlib.md5("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _hash(*parts: str, length: int = 10) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    number = int(hashlib.sha1("/".join(parts).encode()).hexdigest(), 16)
    return "".join(alphabet[(number >> (5 * i)) % len(alphabet)] for i in range(length))


class Clock:
    """Timestamps relative to one instant (now), as RFC 3339 the way Kubernetes writes them."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def ago(self, **delta: float) -> str:
        return (self.now - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metadata(clock: Clock, kind: str, namespace: str, name: str, labels: dict[str, str], rv: int) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": _uid(kind, namespace, name),
        "resourceVersion": str(rv),
        "generation": 3,
        "creationTimestamp": clock.ago(days=12),
        "labels": labels,
        "annotations": {
            "meta.helm.sh/release-name": namespace,
            "meta.helm.sh/release-namespace": namespace,
            "kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion":"apps/v1","kind":"'
            + kind
            + '","metadata":{"name":"'
            + name
            + '"}}\n',
        },
        "managedFields": [
            {
                "manager": "helm",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": clock.ago(days=12),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {f"f:{k}": {} for k in labels}}, "f:spec": {"f:replicas": {}}},
            }
        ],
    }
    if kind == "Namespace" or not namespace:
        meta.pop("namespace")
    return meta


def _container(name: str, image: str, cpu_m: int, port: int) -> Obj:
    memory_mi = cpu_m * 4  # nodes have 4 GiB per core: memory requests follow cpu ones
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
            },
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}},
        ],
        "resources": {
            "requests": {"cpu": f"{cpu_m}m", "memory": f"{memory_mi}Mi"},
            "limits": {"cpu": f"{cpu_m * 4}m", "memory": f"{memory_mi * 2}Mi"},
        },
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": port, "scheme": "HTTP"},
            "initialDelaySeconds": 5,
            "timeoutSeconds": 3,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz/live", "port": port, "scheme": "HTTP"},
            "initialDelaySeconds": 15,
            "timeoutSeconds": 3,
            "periodSeconds": 20,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app"},
            {"name": "kube-api-access", "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 1337,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _sidecar(cpu_m: int) -> Obj:
    proxy = _container("istio-proxy", "docker.io/istio/proxyv2:1.24.2", cpu_m, 15090)
    proxy["args"] = ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning"]
    proxy["env"] += [
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
        {"name": "PROXY_CONFIG", "value": '{"holdApplicationUntilProxyStarts":true}'},
    ]
    proxy["restartPolicy"] = "Always"  # a native sidecar (init container that keeps running)
    return proxy


def _container_status(clock: Clock, name: str, image: str, state: str, restarts: int) -> Obj:
    running: Obj = {"running": {"startedAt": clock.ago(days=2)}}
    states: dict[str, Obj] = {
        "running": running,
        "crash": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "creating": {"waiting": {"reason": "ContainerCreating"}},
        "completed": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": clock.ago(days=3)}},
        "evicted": {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": clock.ago(days=3)}},
    }
    ready = state in ("running", "terminating")
    status: Obj = {
        "name": name,
        "state": states.get(state, running),
        "lastState": {} if not restarts else {"terminated": {"exitCode": 1, "reason": "Error"}},
        "ready": ready,
        "restartCount": restarts,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
        "started": ready,
    }
    if state != "creating":
        status["containerID"] = f"containerd://{hashlib.sha256((name + image).encode()).hexdigest()}"
    return status


def pod(
    clock: Clock,
    namespace: str,
    name: str,
    labels: dict[str, str],
    owner: tuple[str, str],
    node: str,
    cpu_m: int,
    state: str = "running",
    sidecar: bool = True,
    rv: int = 1,
) -> Obj:
    image = f"registry.example.com/{namespace}/{labels.get('app', name)}:1.{rv % 40}.0"
    metadata = _metadata(clock, "Pod", namespace, name, labels, rv)
    metadata.pop("generation")
    metadata["generateName"] = name.rsplit("-", 1)[0] + "-"
    metadata["annotations"] = {
        "istio.io/rev": "default",
        "kubectl.kubernetes.io/default-container": labels.get("app", name),
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/port": "15020",
        "prometheus.io/scrape": "true",
        "sidecar.istio.io/status": '{"initContainers":["istio-validation","istio-proxy"],"containers":null,'
        '"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data",'
        '"istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}',
    }
    metadata["ownerReferences"] = [
        {
            "apiVersion": "apps/v1" if owner[0] != "Job" else "batch/v1",
            "kind": owner[0],
            "name": owner[1],
            "uid": _uid(owner[0], namespace, owner[1]),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    metadata["managedFields"] = [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": clock.ago(days=2),
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {
                    "f:generateName": {},
                    "f:labels": {f"f:{k}": {} for k in labels},
                    "f:ownerReferences": {f'k:{{"uid":"{_uid(owner[0], namespace, owner[1])}"}}': {}},
                },
                "f:spec": {
                    "f:containers": {'k:{"name":"app"}': {"f:image": {}, "f:ports": {}, "f:resources": {}}},
                    "f:dnsPolicy": {},
                    "f:restartPolicy": {},
                    "f:terminationGracePeriodSeconds": {},
                },
            },
        },
        {
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": clock.ago(days=2),
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:status": {
                    "f:conditions": {f'k:{{"type":"{t}"}}': {"f:status": {}} for t in ("Ready", "PodScheduled")},
                    "f:containerStatuses": {},
                    "f:hostIP": {},
                    "f:phase": {},
                    "f:podIP": {},
                    "f:startTime": {},
                },
                "subresource": "status",
            },
        },
    ]
    app = _container(labels.get("app", name), image, cpu_m, 8080)
    init = [_sidecar(max(cpu_m // 10, 1))] if sidecar else []
    containers = [app]
    spec: Obj = {
        "volumes": _volumes(labels.get("app", name)),
        "initContainers": init,
        "containers": containers,
        "restartPolicy": "Never" if owner[0] == "Job" else "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "nodeName": node,
        "securityContext": {"fsGroup": 1337},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    phase = {"completed": "Succeeded", "creating": "Pending", "evicted": "Failed"}.get(state, "Running")
    ready = "True" if state in ("running", "terminating") else "False"
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": clock.ago(days=2)},
        {"type": "Initialized", "status": "True", "lastTransitionTime": clock.ago(days=2)},
        {"type": "Ready", "status": ready, "lastTransitionTime": clock.ago(days=2)},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": clock.ago(days=2)},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": clock.ago(days=2)},
    ]
    restarts = 14 if state == "crash" else 0
    status: Obj = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": "10.0.0.1",
        "hostIPs": [{"ip": "10.0.0.1"}],
        "podIP": f"10.{rv % 250}.{rv // 250 % 250}.{rv % 200 + 2}",
        "podIPs": [{"ip": f"10.{rv % 250}.{rv // 250 % 250}.{rv % 200 + 2}"}],
        "startTime": clock.ago(days=2),
        "initContainerStatuses": [
            _container_status(clock, "istio-proxy", "docker.io/istio/proxyv2:1.24.2", "running", 0)
        ]
        if sidecar and state not in ("completed", "evicted")
        else [],
        "containerStatuses": [_container_status(clock, app["name"], image, state, restarts)],
        "qosClass": "Burstable",
    }
    if state == "evicted":
        status["reason"] = "Evicted"
        status["message"] = "The node was low on resource: memory."
    if state == "creating":
        metadata["creationTimestamp"] = clock.ago(seconds=30)
    if state == "terminating":
        metadata["deletionTimestamp"] = clock.ago(seconds=-20)
        metadata["deletionGracePeriodSeconds"] = 30
    return {"metadata": metadata, "spec": spec, "status": status}


def _selector_labels(app: str, namespace: str) -> dict[str, str]:
    return {"app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/instance": namespace}


def _volumes(app: str) -> list[Obj]:
    """The volumes every container's mounts name (an API server rejects a mount of an undeclared volume)."""
    return [
        {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
        {
            "name": "kube-api-access",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                ],
                "defaultMode": 420,
            },
        },
    ]


def _template(app: str, namespace: str, cpu_m: int) -> Obj:
    labels = {**_selector_labels(app, namespace), "version": "v1", "security.istio.io/tlsMode": "istio"}
    image = f"registry.example.com/{namespace}/{app}:1.0.0"
    return {
        "metadata": {"labels": labels, "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}},
        "spec": {
            "volumes": _volumes(app),
            "containers": [_container(app, image, cpu_m, 8080)],
            "restartPolicy": "Always",
        },
    }


class Generator:
    """Builds the cluster's resources as {snapshot stem: items}, ready for the Kubernetes API test server."""

    def __init__(self, shape: Shape, now: datetime | None = None) -> None:
        self.shape = shape
        self.clock = Clock(now or datetime.now(UTC))
        allocatable_m = NODES * (NODE_CPU - 1) * 1000
        self.cpu_m = max(1, int(allocatable_m * REQUESTED_SHARE / (shape.total_pods * 1.1)))
        self.rv = 1000
        self.resources: dict[str, list[Obj]] = {
            stem: []
            for stem in (
                "pods",
                "nodes",
                "nodes.metrics.k8s.io",
                "namespaces",
                "persistentvolumeclaims",
                "deployments.apps",
                "replicasets.apps",
                "statefulsets.apps",
                "daemonsets.apps",
                "jobs.batch",
                "peerauthentications.security.istio.io",
                "authorizationpolicies.security.istio.io",
                "virtualservices.networking.istio.io",
                "destinationrules.networking.istio.io",
                "servicemonitors.monitoring.coreos.com",
            )
        }
        self._pod_index = 0

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _add_pod(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str],
        owner: tuple[str, str],
        state: str = "running",
        node: str | None = None,
        sidecar: bool = True,
    ) -> None:
        node = node or self._node()
        rv = self._next_rv()
        self.resources["pods"].append(
            pod(self.clock, namespace, name, labels, owner, node, self.cpu_m, state, sidecar, rv)
        )

    def _node(self) -> str:
        self._pod_index += 1
        return f"node-{self._pod_index % NODES:03d}"

    def build(self) -> dict[str, list[Obj]]:
        self._nodes()
        for name in SYSTEM_NAMESPACES:
            self._namespace(name, {"istio-injection": "disabled"})
        for namespace, name in DAEMONSETS:
            self._daemonset(namespace, name)
        self.resources["peerauthentications.security.istio.io"].append(
            self._crd(
                "security.istio.io/v1", "PeerAuthentication", "istio-system", "default", {"mtls": {"mode": "STRICT"}}
            )
        )
        self.resources["servicemonitors.monitoring.coreos.com"].append(
            self._crd("monitoring.coreos.com/v1", "ServiceMonitor", "kube-system", "node-exporter", {"endpoints": []})
        )
        for index in range(self.shape.namespaces):
            self._team(f"team-{index:04d}", index)
        return self.resources

    def _nodes(self) -> None:
        for index in range(NODES):
            name = f"node-{index:03d}"
            labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "node-role.kubernetes.io/worker": ""}
            metadata = _metadata(self.clock, "Node", "", name, labels, self._next_rv())
            metadata.pop("generation")
            allocatable = {"cpu": f"{NODE_CPU - 1}", "memory": f"{NODE_MEMORY_GI - 4}Gi", "pods": "250"}
            capacity = {"cpu": str(NODE_CPU), "memory": f"{NODE_MEMORY_GI}Gi", "pods": "250"}
            conditions = [
                {
                    "type": kind,
                    "status": "False",
                    "reason": f"KubeletHas{reason}",
                    "lastTransitionTime": self.clock.ago(days=30),
                }
                for kind, reason in (
                    ("MemoryPressure", "SufficientMemory"),
                    ("DiskPressure", "NoDiskPressure"),
                    ("PIDPressure", "SufficientPID"),
                )
            ] + [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "lastTransitionTime": self.clock.ago(days=30),
                }
            ]
            self.resources["nodes"].append(
                {
                    "metadata": metadata,
                    "spec": {"podCIDR": f"10.{index}.0.0/24", "providerID": f"aws:///eu-west-1a/i-{_hash(name)}"},
                    "status": {
                        "capacity": capacity,
                        "allocatable": allocatable,
                        "conditions": conditions,
                        "addresses": [{"type": "InternalIP", "address": f"10.0.1.{index}"}],
                        "nodeInfo": {"kubeletVersion": "v1.31.4", "containerRuntimeVersion": "containerd://1.7.24"},
                    },
                }
            )
            self.resources["nodes.metrics.k8s.io"].append(
                {
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "kind": "NodeMetrics",
                    "metadata": {"name": name, "labels": labels},
                    "timestamp": self.clock.ago(seconds=15),
                    "window": "20.05s",
                    "usage": {"cpu": f"{NODE_CPU * 400 + index}m", "memory": f"{NODE_MEMORY_GI * 400}Mi"},
                }
            )

    def _namespace(self, name: str, labels: dict[str, str]) -> None:
        metadata = _metadata(self.clock, "Namespace", "", name, {"kubernetes.io/metadata.name": name, **labels}, 1)
        metadata.pop("generation")
        self.resources["namespaces"].append(
            {"metadata": metadata, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        )

    def _crd(self, api_version: str, kind: str, namespace: str, name: str, spec: Obj) -> Obj:
        metadata = _metadata(
            self.clock, kind, namespace, name, {"app.kubernetes.io/part-of": namespace}, self._next_rv()
        )
        return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}

    def _workload(self, kind: str, namespace: str, name: str, spec: Obj, status: Obj) -> Obj:
        metadata = _metadata(self.clock, kind, namespace, name, _selector_labels(name, namespace), self._next_rv())
        return {"metadata": metadata, "spec": spec, "status": {"observedGeneration": 3, **status}}

    def _daemonset(self, namespace: str, name: str) -> None:
        template = _template(name, namespace, self.cpu_m)
        spec = {"selector": {"matchLabels": _selector_labels(name, namespace)}, "template": template}
        counts = dict.fromkeys(("desiredNumberScheduled", "currentNumberScheduled", "numberReady"), NODES)
        counts |= {"updatedNumberScheduled": NODES, "numberAvailable": NODES, "numberMisscheduled": 0}
        self.resources["daemonsets.apps"].append(self._workload("DaemonSet", namespace, name, spec, counts))
        for index in range(NODES):
            node = f"node-{index:03d}"
            labels = {**template["metadata"]["labels"], "controller-revision-hash": "6d5f8b9c7"}
            self._add_pod(
                namespace,
                f"{name}-{_hash(namespace, name, node, length=5)}",
                labels,
                ("DaemonSet", name),
                node=node,
                sidecar=False,
            )

    def _team(self, namespace: str, index: int) -> None:
        self._namespace(namespace, {"istio-injection": "enabled", "team": f"team-{index % 17}"})
        for app in DEPLOYMENTS:
            self._deployment(namespace, app, index)
        self._statefulset(namespace, "db")
        for job in ("migrate", "seed"):
            self._job(namespace, f"{job}-{index:04d}")
        crds = (
            ("authorizationpolicies.security.istio.io", "security.istio.io/v1", "AuthorizationPolicy", "allow-mesh"),
            ("virtualservices.networking.istio.io", "networking.istio.io/v1", "VirtualService", "svc-0"),
            ("virtualservices.networking.istio.io", "networking.istio.io/v1", "VirtualService", "svc-1"),
            ("destinationrules.networking.istio.io", "networking.istio.io/v1", "DestinationRule", "svc-0"),
            ("destinationrules.networking.istio.io", "networking.istio.io/v1", "DestinationRule", "svc-1"),
        )
        for stem, api_version, kind, name in crds:
            spec = {
                "hosts": [f"{name}.{namespace}.svc.cluster.local"],
                "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
            }
            self.resources[stem].append(self._crd(api_version, kind, namespace, name, spec))

    def _pod_state(self, namespace: str, app: str, replica: int) -> str:
        """The fixed mix of troubled pods: in team-0002 (crash, pending), team-0003 (evicted), team-0004 (deleting)."""
        special = {
            ("team-0002", "svc-1", 0): "crash",
            ("team-0002", "svc-1", 1): "crash",
            ("team-0002", "svc-2", 0): "creating",
            ("team-0004", "svc-3", 0): "terminating",
        }
        return special.get((namespace, app, replica), "running")

    def _deployment(self, namespace: str, app: str, index: int) -> None:
        replicas = 4
        template = _template(app, namespace, self.cpu_m)
        pod_hash = _hash(namespace, app, length=10)
        spec = {
            "replicas": replicas,
            "selector": {"matchLabels": _selector_labels(app, namespace)},
            "template": template,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        }
        troubled = sum(self._pod_state(namespace, app, r) in ("crash", "creating") for r in range(replicas))
        ready = replicas - troubled
        status = {"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready}
        status["conditions"] = [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ]
        self.resources["deployments.apps"].append(self._workload("Deployment", namespace, app, spec, status))
        rs_name = f"{app}-{pod_hash}"
        rs = self._workload("ReplicaSet", namespace, rs_name, {**spec, "replicas": replicas}, dict(status))
        rs["metadata"]["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "uid": _uid("Deployment", namespace, app)}
        ]
        self.resources["replicasets.apps"].append(rs)
        labels = {**template["metadata"]["labels"], "pod-template-hash": pod_hash}
        for replica in range(replicas):
            state = self._pod_state(namespace, app, replica)
            name = f"{rs_name}-{_hash(namespace, app, str(replica), length=5)}"
            self._add_pod(namespace, name, labels, ("ReplicaSet", rs_name), state)

    def _statefulset(self, namespace: str, app: str) -> None:
        replicas = 2
        template = _template(app, namespace, self.cpu_m)
        spec = {
            "replicas": replicas,
            "selector": {"matchLabels": _selector_labels(app, namespace)},
            "template": template,
            "serviceName": app,
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
                }
            ],
        }
        status = {
            "replicas": replicas,
            "readyReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
        }
        self.resources["statefulsets.apps"].append(self._workload("StatefulSet", namespace, app, spec, status))
        for replica in range(replicas):
            name = f"{app}-{replica}"
            labels = {**template["metadata"]["labels"], "statefulset.kubernetes.io/pod-name": name}
            state = "evicted" if (namespace, replica) == ("team-0003", 1) else "running"
            self._add_pod(namespace, name, labels, ("StatefulSet", app), state)
            claim = _metadata(
                self.clock, "PersistentVolumeClaim", namespace, f"data-{name}", {"app": app}, self._next_rv()
            )
            self.resources["persistentvolumeclaims"].append(
                {
                    "metadata": claim,
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
                    "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}},
                }
            )

    def _job(self, namespace: str, name: str) -> None:
        template = _template(name, namespace, self.cpu_m)
        spec = {
            "completions": 1,
            "backoffLimit": 6,
            "template": {**template, "spec": {**template["spec"], "restartPolicy": "Never"}},
        }
        done = self.clock.ago(days=11)
        # As the Job controller of 1.31+ writes it: a real API server rejects Complete without SuccessCriteriaMet,
        # startTime and completionTime.
        status = {
            "startTime": done,
            "completionTime": done,
            "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": done},
                {"type": "Complete", "status": "True", "lastTransitionTime": done},
            ],
        }
        job = self._workload("Job", namespace, name, spec, status)
        self.resources["jobs.batch"].append(job)
        labels = {"job-name": name, "batch.kubernetes.io/job-name": name}
        pod_name = f"{name}-{_hash(namespace, name, length=5)}"
        self._add_pod(namespace, pod_name, labels, ("Job", name), "completed", sidecar=False)


def generate(pods: int, now: datetime | None = None) -> dict[str, list[Obj]]:
    """The resources of a cluster of about `pods` pods."""
    return Generator(Shape(pods), now).build()


# The kind and API version of each generated resource; the items themselves carry them only where a real
# list does (custom resources, metrics).
KINDS: dict[str, tuple[str, str]] = {
    "pods": ("v1", "Pod"),
    "nodes": ("v1", "Node"),
    "namespaces": ("v1", "Namespace"),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim"),
    "deployments.apps": ("apps/v1", "Deployment"),
    "replicasets.apps": ("apps/v1", "ReplicaSet"),
    "statefulsets.apps": ("apps/v1", "StatefulSet"),
    "daemonsets.apps": ("apps/v1", "DaemonSet"),
    "jobs.batch": ("batch/v1", "Job"),
    "peerauthentications.security.istio.io": ("security.istio.io/v1", "PeerAuthentication"),
    "authorizationpolicies.security.istio.io": ("security.istio.io/v1", "AuthorizationPolicy"),
    "virtualservices.networking.istio.io": ("networking.istio.io/v1", "VirtualService"),
    "destinationrules.networking.istio.io": ("networking.istio.io/v1", "DestinationRule"),
    "servicemonitors.monitoring.coreos.com": ("monitoring.coreos.com/v1", "ServiceMonitor"),
}
# Served by metrics-server through the aggregation layer: nothing an API server alone can store.
AGGREGATED = ("nodes.metrics.k8s.io",)


def _custom_resource_definition(stem: str, api_version: str, kind: str) -> Obj:
    plural, group = stem.split(".", 1)
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": stem},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [{"name": api_version.split("/")[1], "served": True, "storage": True, "schema": schema}],
        },
    }


def api_objects(resources: dict[str, list[Obj]]) -> list[Obj]:
    """The generated cluster as objects to create through an API server: each with its kind and apiVersion,
    a CustomResourceDefinition per custom kind, and nothing of the aggregated metrics API."""
    objects: list[Obj] = []
    for stem, items in resources.items():
        if stem in AGGREGATED:
            continue
        api_version, kind = KINDS[stem]
        if "." in api_version.split("/")[0]:
            objects.append(_custom_resource_definition(stem, api_version, kind))
        objects += [{"apiVersion": api_version, "kind": kind, **item} for item in items]
    return objects


def metrics_stand_in(resources: dict[str, list[Obj]]) -> list[Obj]:
    """The generated NodeMetrics, and a CustomResourceDefinition that serves them at metrics-server's path
    (/apis/metrics.k8s.io/v1beta1/nodes): an API server with no metrics-server behind it then serves the usage
    the utilization checks judge. The objects are as metrics-server answers them (timestamp, window, usage)."""
    crd = _custom_resource_definition("nodes.metrics.k8s.io", "metrics.k8s.io/v1beta1", "NodeMetrics")
    crd["spec"]["scope"] = "Cluster"
    # A *.k8s.io group is reserved to reviewed APIs; a CRD in one must say it is not one.
    crd["metadata"]["annotations"] = {"api-approved.kubernetes.io": "unapproved, the benchmark's metrics-server"}
    return [crd, *resources.get("nodes.metrics.k8s.io", [])]
