"""A real etcd and kube-apiserver for tests (envtest's layout, found through KUBEBUILDER_ASSETS), as fixtures."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from kafkabroker import free_port
from kubeapi import write_kubeconfig

ASSETS_ENV = "KUBEBUILDER_ASSETS"
SKIP_REASON = (
    f"needs a real kube-apiserver and etcd: `setup-envtest use 1.34 --bin-dir DIR`, then {ASSETS_ENV}=DIR "
    f"(in this repository {ASSETS_ENV}=../shared/envtest)"
)
BINARIES = ("etcd", "kube-apiserver")
READY_TIMEOUT = 60.0
STOP_GRACE = 10.0
# Enough parallel writes to keep the server busy without tripping its in-flight limits.
WORKERS = 16

# Created first, in this order; everything else after, and Pods last (they need ServiceAccounts,
# RuntimeClasses, PriorityClasses to exist).
_FIRST = ("Namespace", "CustomResourceDefinition")
_EARLY = (
    "ServiceAccount",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "ClusterRole",
    "Role",
    "ConfigMap",
    "Secret",
    "PersistentVolume",
)
_SERVER_OWNED_METADATA = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    # The owners' uids are the old cluster's; the server would keep dangling references.
    "ownerReferences",
)

_JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def assets_dir() -> Path | None:
    """KUBEBUILDER_ASSETS resolved against the current directory, when it holds both binaries."""
    value = os.environ.get(ASSETS_ENV, "")
    if not value:
        return None
    directory = Path(value).resolve()
    if all(os.access(directory / name, os.X_OK) for name in BINARIES):
        return directory
    return None


class RealServerError(RuntimeError):
    """The server did not start, or refused what a test asked of it."""


@dataclass(frozen=True)
class _Resource:
    plural: str
    namespaced: bool
    has_status: bool


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path}: not written)"
    return "\n".join(text.splitlines()[-lines:])


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_pki(directory: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1/localhost and the service-account key pair."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realserver-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    serving = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes.default.svc"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (directory / "ca.crt").write_bytes(_pem_cert(ca))
    (directory / "serving.crt").write_bytes(_pem_cert(serving))
    (directory / "serving.key").write_bytes(_pem_key(key))
    (directory / "sa.key").write_bytes(_pem_key(sa_key))
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


# Metadata of every request, once, when its response is complete.
_AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [{"level": "Metadata"}],
}


def _strip(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object as a client would create it: no server-owned metadata, no status."""
    created = {k: v for k, v in obj.items() if k != "status"}
    metadata = {k: v for k, v in obj.get("metadata", {}).items() if k not in _SERVER_OWNED_METADATA}
    created["metadata"] = metadata
    if obj.get("kind") == "Job" and not (obj.get("spec") or {}).get("manualSelector"):
        # The server derives a Job's selector and these template labels from the new Job's uid.
        spec = dict(created["spec"])
        spec.pop("selector", None)
        template = dict(spec.get("template") or {})
        template_metadata = dict(template.get("metadata") or {})
        template_metadata["labels"] = {
            k: v for k, v in (template_metadata.get("labels") or {}).items() if k not in _JOB_UID_LABELS
        }
        template["metadata"] = template_metadata
        spec["template"] = template
        created["spec"] = spec
    return created


def custom_resource_definition(
    plural: str, group: str, version: str, kind: str, namespaced: bool = True
) -> dict[str, Any]:
    """A CRD serving `kind` with any content (no schema), for loading captured custom resources."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced" if namespaced else "Cluster",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec an object creates pods from (a Pod's own, a workload's template, a CronJob's)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return (template or {}).get("spec") if isinstance(template, Mapping) else None


class RealServer:
    """A running etcd and kube-apiserver, with an admin token and an audit log of every request."""

    def __init__(self, directory: Path, assets: Path) -> None:
        self.directory = directory
        self.assets = assets
        self.data_dir = directory / "data"
        self.audit_log = directory / "audit.log"
        self.ca_file = self.data_dir / "ca.crt"
        self.kubeconfig = directory / "kubeconfig"
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._http: urllib3.PoolManager | None = None
        self._resources: dict[tuple[str, str], _Resource] = {}
        self._discovery_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        try:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self._processes.append((name, process))

    def start(self) -> None:
        self.data_dir.mkdir(parents=True)
        _write_pki(self.data_dir)
        (self.data_dir / "tokens.csv").write_text(f'{self.token},admin,admin-uid,"system:masters"\n')
        (self.data_dir / "audit-policy.json").write_text(json.dumps(_AUDIT_POLICY))
        client, peer = free_port(), free_port()
        self._spawn(
            "etcd",
            [
                str(self.assets / "etcd"),
                "--name=t",
                f"--data-dir={self.data_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=t=http://127.0.0.1:{peer}",
                "--initial-cluster-state=new",
                "--listen-metrics-urls=",
                # A throwaway store: durability only costs time here.
                "--unsafe-no-fsync",
            ],
        )
        data = self.data_dir
        self._spawn(
            "kube-apiserver",
            [
                str(self.assets / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{client}",
                f"--secure-port={self.port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--tls-cert-file={data / 'serving.crt'}",
                f"--tls-private-key-file={data / 'serving.key'}",
                f"--client-ca-file={self.ca_file}",
                f"--token-auth-file={data / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={data / 'sa.pub'}",
                f"--service-account-signing-key-file={data / 'sa.key'}",
                # kubeadm's default, which the demo's clusterIPs (and its own kube-apiserver's flags) use.
                "--service-cluster-ip-range=10.96.0.0/12",
                "--allow-privileged=true",
                f"--cert-dir={data / 'certs'}",
                # Without it the log gets an error every 10 s: a loopback address cannot be an endpoint.
                "--endpoint-reconciler-type=none",
                f"--audit-policy-file={data / 'audit-policy.json'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ],
        )
        self._http = urllib3.PoolManager(
            num_pools=2, maxsize=WORKERS, cert_reqs="CERT_REQUIRED", ca_certs=str(self.ca_file), retries=False
        )
        self._wait_ready()
        self.kubeconfig_for(self.token, self.kubeconfig)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        # Ready, then the default RBAC roles and the system namespaces the bootstrap creates.
        probes = [
            "/readyz",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            "/api/v1/namespaces/default/services/kubernetes",
        ]
        last = ""
        while probes:
            for name, process in self._processes:
                if process.poll() is not None:
                    self._fail(f"{name} exited with {process.returncode}")
            try:
                status, body = self.request("GET", probes[0])
                last = f"{probes[0]}: {status} {body!r}"[:300]
                if status == 200:
                    probes.pop(0)
                    continue
            except (urllib3.exceptions.HTTPError, OSError) as error:
                last = f"{probes[0]}: {error}"
            if time.monotonic() > deadline:
                self._fail(f"not ready after {READY_TIMEOUT:.0f} s (last: {last})")
            time.sleep(0.2)

    def _fail(self, why: str) -> None:
        logs = "\n".join(
            f"--- {name}.log (tail) ---\n{_tail(self.directory / f'{name}.log')}" for name in ("etcd", "kube-apiserver")
        )
        raise RealServerError(f"kube-apiserver {self.url}: {why}\n{logs}")

    def stop(self) -> None:
        """The server before etcd, each SIGTERM then SIGKILL after a grace; then the data is removed."""
        if self._http is not None:
            self._http.clear()
        for _name, process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_GRACE)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- requests ----------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request as the admin (or `token`; "" for none): the status and the body, JSON-decoded when it is."""
        assert self._http is not None, "server not started"
        chosen = self.token if token is None else token
        headers = {"Accept": "application/json"}
        if chosen:
            headers["Authorization"] = f"Bearer {chosen}"
        payload: bytes | None = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        url = self.url + path + (f"?{urlencode(query)}" if query else "")
        response = self._http.request(method, url, body=payload, headers=headers, timeout=30.0)
        data = response.data
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, data.decode(errors="replace")

    def _ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, answer = self.request(method, path, body, **kwargs)
        if status >= 300:
            raise RealServerError(f"{method} {path}: {status} {_message(answer)}")
        return answer

    # -- identities --------------------------------------------------------------------------------

    def kubeconfig_for(self, token: str, path: Path) -> Path:
        """A kubeconfig for this server as whoever holds `token`."""
        written = write_kubeconfig(path, self.url, token, context="realserver", certificate_authority=self.ca_file)
        written.chmod(0o600)
        return written

    def service_account_token(self, namespace: str, name: str) -> str:
        """A bound token for the ServiceAccount (TokenRequest; no controller-manager mints Secrets here)."""
        answer = self._ok(
            "POST",
            f"/api/v1/namespaces/{quote(namespace)}/serviceaccounts/{quote(name)}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
        )
        token: str = answer["status"]["token"]
        return token

    def audit_events(self) -> list[dict[str, Any]]:
        """Every completed request so far (requestURI, verb, user.username, responseStatus.code...)."""
        if not self.audit_log.exists():
            return []
        events = []
        for line in self.audit_log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if event.get("stage") == "ResponseComplete":
                    events.append(event)
        return events

    # -- discovery ---------------------------------------------------------------------------------

    def _discover(self) -> None:
        versions = ["/api/v1"]
        groups = self._ok("GET", "/apis")
        versions += [f"/apis/{v['groupVersion']}" for g in groups["groups"] for v in g["versions"]]

        def resources(path: str) -> dict[tuple[str, str], _Resource]:
            status, answer = self.request("GET", path)
            if status != 200:  # an aggregated API without its backend (metrics.k8s.io)
                return {}
            names = {r["name"] for r in answer["resources"]}
            return {
                (answer["groupVersion"], r["kind"]): _Resource(
                    r["name"], r["namespaced"], f"{r['name']}/status" in names
                )
                for r in answer["resources"]
                if "/" not in r["name"]
            }

        found: dict[tuple[str, str], _Resource] = {}
        with ThreadPoolExecutor(8) as pool:
            for part in pool.map(resources, versions):
                found.update(part)
        self._resources = found

    def resource(self, api_version: str, kind: str) -> _Resource:
        """The served resource for a kind (discovery, cached, refreshed once on a miss)."""
        with self._discovery_lock:
            if (api_version, kind) not in self._resources:
                self._discover()
            try:
                return self._resources[(api_version, kind)]
            except KeyError:
                raise RealServerError(f"{api_version} {kind}: not served by {self.url}") from None

    def path_of(self, obj: Mapping[str, Any], name: bool = True) -> str:
        """The collection (or, with `name`, the object's) path of a kind/apiVersion/metadata mapping."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        served = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        metadata = obj.get("metadata", {})
        if served.namespaced:
            base += f"/namespaces/{quote(metadata.get('namespace') or 'default')}"
        base += f"/{served.plural}"
        return base + f"/{quote(metadata['name'])}" if name else base

    # -- loading -----------------------------------------------------------------------------------

    def apply(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Create objects (and then their status) in an order the server accepts.

        Namespaces come with their `default` ServiceAccount, CRDs are waited on until established, and
        ServiceAccounts and RuntimeClasses that pods name are created when missing: no controller-manager
        runs to do either. Objects that exist already are updated.
        """
        pending = [dict(o) for o in objects]
        for obj in pending:
            if not obj.get("apiVersion") or not obj.get("kind"):
                raise RealServerError(f"object without apiVersion/kind: {obj.get('metadata', {}).get('name')!r}")
        pending += self._implied(pending)
        crds = [o for o in pending if o["kind"] == "CustomResourceDefinition"]
        custom = {(crd["spec"]["group"], crd["spec"]["names"]["kind"]) for crd in crds}
        tiers: list[list[dict[str, Any]]] = [[], [], [], [], []]
        customs: list[dict[str, Any]] = []
        for obj in pending:
            kind = obj["kind"]
            if (obj["apiVersion"].split("/")[0], kind) in custom:
                customs.append(obj)
            elif kind == "Namespace":
                tiers[0].append(obj)
            elif kind == "CustomResourceDefinition":
                tiers[1].append(obj)
            elif kind in _EARLY:
                tiers[2].append(obj)
            elif kind == "Pod":
                tiers[4].append(obj)
            else:
                tiers[3].append(obj)
        errors: list[str] = []
        # Custom resources load on a pool of their own, beside the built-in kinds: a new CRD's first writes
        # each take about 2 s, and would hold every worker meanwhile.
        with ThreadPoolExecutor(WORKERS) as pool, ThreadPoolExecutor(WORKERS) as custom_pool:
            custom_problems: Iterator[str | None] = iter(())
            for number, tier in enumerate(tiers):
                errors += filter(None, pool.map(self._create_one, tier))
                if errors:
                    break
                if number == 1:
                    if tier:
                        self._wait_established(tier)
                    custom_problems = custom_pool.map(self._create_one, customs)
            errors += filter(None, custom_problems)
        if errors:
            raise RealServerError(f"{len(errors)} object(s) refused:\n" + "\n".join(errors[:30]))

    def _implied(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What a controller-manager or an installer would have made: default ServiceAccounts, and the
        ServiceAccounts and RuntimeClasses that pod specs name."""
        present = {(o["kind"], o.get("metadata", {}).get("namespace", ""), o["metadata"]["name"]) for o in objects}
        wanted: dict[tuple[str, str, str], dict[str, Any]] = {}

        def want(kind: str, api_version: str, namespace: str, name: str, **extra: Any) -> None:
            key = (kind, namespace, name)
            if key not in present and key not in wanted:
                metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
                wanted[key] = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **extra}

        for obj in objects:
            metadata = obj.get("metadata", {})
            if obj["kind"] == "Namespace":
                want("ServiceAccount", "v1", metadata["name"], "default")
            spec = _pod_spec(obj)
            if spec is None:
                continue
            namespace = metadata.get("namespace") or "default"
            want("ServiceAccount", "v1", namespace, spec.get("serviceAccountName") or "default")
            if spec.get("runtimeClassName"):
                name = spec["runtimeClassName"]
                want("RuntimeClass", "node.k8s.io/v1", "", name, handler=name)
        return list(wanted.values())

    def _create_one(self, obj: dict[str, Any]) -> str | None:
        """Create (or replace) one object and then set its status; a problem as text, or None."""
        where = f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata'].get('name')}"
        try:
            body = _strip(obj)
            status, answer = self.request("POST", self.path_of(obj, name=False), body)
            # An existing Service answers 422 (its clusterIP is taken) before the name conflict is seen.
            if status in (409, 422):
                status, answer = self.request("GET", self.path_of(obj))
                if status != 200:
                    status, answer = self.request("POST", self.path_of(obj, name=False), body)
                elif set(body) - {"apiVersion", "kind", "metadata"}:
                    body["metadata"]["resourceVersion"] = answer["metadata"]["resourceVersion"]
                    status, answer = self.request("PUT", self.path_of(obj), body)
            if status >= 300:
                return f"{where}: {status} {_message(answer)}"
            if obj.get("status") and self.resource(obj["apiVersion"], obj["kind"]).has_status:
                update = {**answer, "status": obj["status"]}
                status, answer = self.request("PUT", self.path_of(obj) + "/status", update)
                if status >= 300:
                    return f"{where} status: {status} {_message(answer)}"
        except RealServerError as error:
            return f"{where}: {error}"
        return None

    def _wait_established(self, crds: list[dict[str, Any]], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for crd in crds:
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
            while True:
                answer = self._ok("GET", path)
                conditions = (answer.get("status") or {}).get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                    break
                if time.monotonic() > deadline:
                    raise RealServerError(f"CRD {crd['metadata']['name']} not established after {timeout:.0f} s")
                time.sleep(0.1)
        # The new kinds are served now; discovery is read again on the next miss.
        with self._discovery_lock:
            self._resources = {}


def _message(answer: Any) -> str:
    if isinstance(answer, Mapping):
        return str(answer.get("message", answer))[:600]
    return str(answer)[:600]


@contextlib.contextmanager
def start_real_server(directory: Path) -> Iterator[RealServer]:
    """etcd and kube-apiserver on free loopback ports, ready (RBAC bootstrapped), stopped on exit and on failure."""
    assets = assets_dir()
    if assets is None:
        raise RealServerError(SKIP_REASON)
    directory.mkdir(parents=True, exist_ok=True)
    server = RealServer(directory, assets)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def require_assets() -> None:
    if assets_dir() is None:
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """One real API server per test process (per xdist worker), shared by every test that asks for it."""
    require_assets()
    with start_real_server(tmp_path_factory.mktemp("realserver")) as server:
        yield server


@pytest.fixture
def real_server_factory(tmp_path: Path) -> Iterator[Callable[[], RealServer]]:
    """Start more real servers (each fresh and empty); all are stopped when the test ends."""
    require_assets()
    started = 0
    with contextlib.ExitStack() as stack:

        def start() -> RealServer:
            nonlocal started
            started += 1
            return stack.enter_context(start_real_server(tmp_path / f"server-{started}"))

        yield start


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """realserver tests share one worker (and so one server) under --dist loadgroup; without the
    binaries they skip, saying how to get them."""
    missing = assets_dir() is None
    for item in items:
        if item.get_closest_marker("realserver") is None:
            continue
        item.add_marker(pytest.mark.xdist_group("realserver"))
        if missing:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))
