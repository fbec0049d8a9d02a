"""Prometheus: whether it scrapes its targets, cluster CPU/memory utilization, the instant queries checks judge.

Files under `prometheus/` in a snapshot or evidence:

- `targets.json`: the body of `GET /api/v1/targets?state=active`, sanitized (see `sanitize`).
- `cpu-utilization.json`, `memory-utilization.json`, `mesh-requests.json`, `volume-usage.json`: the
  instant queries the capacity, mesh traffic and volume checks judge, as
  `{"expression": PromQL, "response": <the /api/v1/query body>}`, optionally with
  `"tried": [{"expression": ..., "outcome": ...}]` (expressions tried before, e.g. a recording rule
  that does not exist) or, instead of `response`, `"error": reason` when the query got no answer.
  A bare /api/v1/query body (as `curl` saves it) is accepted too; its expression is then unrecorded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Literal
from urllib.parse import quote, unquote, urlencode

import orjson

from conformance.check import Culprit, Derived, Finding
from conformance.cluster.state import ClusterState
from conformance.errors import CouldNotEvaluate, MalformedObject, SourceError
from conformance.profile.model import Profile
from conformance.profile.services import Prometheus
from conformance.services.source import Endpoint, LiveContext, ServiceSource

NAME = "prometheus"
TARGETS = "targets.json"
CPU = "cpu-utilization.json"
MEMORY = "memory-utilization.json"
TARGETS_PATH = "/api/v1/targets?state=active"
HEALTH = ("up", "down", "unknown")

# kubernetes-mixin's recording rule: the average over nodes of each node's busy share of its CPUs.
CPU_RULE = "cluster:node_cpu:ratio_rate5m"
# The same from raw node-exporter counters, for clusters without the mixin's rules: busy CPU-seconds
# per second of each CPU, averaged per node (the node's busy share), then averaged over nodes.
CPU_FALLBACK = (
    "avg(avg by (instance) (sum without (mode) ("
    'rate(node_cpu_seconds_total{mode!="idle",mode!="iowait",mode!="steal"}[5m]))))'
)
MEMORY_EXPRESSION = "1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)"
QUERIES: dict[str, tuple[str, ...]] = {CPU: (CPU_RULE, CPU_FALLBACK), MEMORY: (MEMORY_EXPRESSION,)}
# Mesh traffic in one query, split by response code: a separate 5xx query has no series until a 5xx is
# ever counted, which cannot be told apart from metrics that are not scraped at all.
MESH = "mesh-requests.json"
MESH_EXPRESSION = (
    "sum by (destination_workload_namespace, destination_workload, response_code) (rate(istio_requests_total[5m]))"
)
# Used over capacity per PVC; max by, since a volume can be reported by two kubelet scrapes during a move.
VOLUMES = "volume-usage.json"
VOLUME_EXPRESSION = (
    "max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes)"
)
USAGE_FILES: dict[str, str] = {"cpu": CPU, "memory": MEMORY}

# The fields of an active target the checks and the report use; everything else (discoveredLabels
# with its __param_* and __address__ values, anything a newer Prometheus adds) is dropped.
TARGET_FIELDS = (
    "labels",
    "scrapePool",
    "scrapeUrl",
    "globalUrl",
    "lastError",
    "lastScrape",
    "lastScrapeDuration",
    "health",
    "scrapeInterval",
    "scrapeTimeout",
)
MAX_ERROR_TEXT = 300


# -- sanitizing ------------------------------------------------------------------------------------

REDACTED = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
# Userinfo: in a URL, everything between :// and the last @ (raw, or encoded once or twice, as
# Prometheus escapes an address holding one) before the query, so a password with a raw / is caught
# whole; without a scheme, `user:pass@host` (an instance label made from such an address).
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s\"'<>?#]*(@|%40|%2540)", re.IGNORECASE)
_USERINFO = re.compile(r"[^\s\"'/?#@<>()\[\]]+(@|%40|%2540)", re.IGNORECASE)
_QUERY_VALUE = re.compile(r"([?&;][^=&#?\s\"']+=)[^&#;\s\"']*")
# Go's fmt mangles a URL with % escapes that reached a format string ("%!F(MISSING)"): such a URL can
# hold fragments of credentials that no pattern recognizes, so it is withheld whole.
_MANGLED_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"']*%![^\s\"']*")
_SECRET_PARAM = re.compile(r"token|key|secret|pass|auth|sig|cred|session|jwt|bearer|code", re.IGNORECASE)
MIN_SECRET_LENGTH = 4


def redact_text(text: str) -> str:
    """Remove credentials from free text: userinfo before an @, every query value of every URL."""
    text = _MANGLED_URL.sub("<URL withheld: mangled, may hold credentials>", text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + m.group(2), text)
    text = _USERINFO.sub(lambda m: REDACTED + m.group(1), text)
    return _URL.sub(lambda m: _QUERY_VALUE.sub(lambda q: q.group(1) + REDACTED, m.group(0)), text)


def _secrets_in(url: str) -> set[str]:
    """Credentials a URL carries (userinfo, values of secret-looking parameters), in the forms they may recur."""
    found: set[str] = set()
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#\s]*)", url)
    if match:
        authority = match.group(1)
        at = max(authority.rfind("@"), authority.lower().rfind("%40"))
        if at > 0:
            found.add(authority[:at])
    _, _, query = url.partition("?")
    for pair in re.split(r"[&;]", query.partition("#")[0]):
        name, sep, value = pair.partition("=")
        if sep and _SECRET_PARAM.search(unquote(name)):
            found.add(value)
    forms: set[str] = set()
    for secret in found:
        once = unquote(secret)
        forms |= {secret, once, unquote(once), quote(once, safe=""), quote(once, safe=":")}
        forms |= set(once.split(":", 1)[1:])  # the password alone
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def _scrub(value: Any, secrets: Iterable[str]) -> Any:
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return redact_text(value)
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    return value


def _sanitize_target(target: Any) -> Any:
    if not isinstance(target, dict):
        return _scrub(target, ())
    secrets: set[str] = set()
    for field in ("scrapeUrl", "globalUrl"):
        if isinstance(target.get(field), str):
            secrets |= _secrets_in(target[field])
    discovered = target.get("discoveredLabels")
    if isinstance(discovered, dict):
        for name, value in discovered.items():
            secret_param = isinstance(name, str) and name.startswith("__param_") and _SECRET_PARAM.search(name)
            if secret_param and isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                secrets |= {value, quote(value, safe="")}
    kept = {k: target[k] for k in TARGET_FIELDS if k in target}
    labels = kept.get("labels")
    if isinstance(labels, dict):
        kept["labels"] = {k: v for k, v in labels.items() if not (isinstance(k, str) and k.startswith("__"))}
    return _scrub(kept, secrets)


def _sanitize_targets(document: Any) -> Any:
    if not isinstance(document, dict):
        return _scrub(document, ())
    kept = {k: _scrub(document[k], ()) for k in ("status", "errorType", "error", "warnings", "infos") if k in document}
    data = document.get("data")
    if isinstance(data, dict):
        # droppedTargets carry discoveredLabels only; a state=active body has none, a state=any body may.
        active = data.get("activeTargets")
        listed = [_sanitize_target(t) for t in active] if isinstance(active, list) else _scrub(active, ())
        kept["data"] = {"activeTargets": listed}
    elif "data" in document:
        kept["data"] = _scrub(data, ())
    return kept


def sanitize(file: str, body: bytes) -> bytes:
    """Strip credentials before anything is stored; a body that is not JSON is redacted as text and kept malformed."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").replace("\\u0026", "&").replace("\\/", "/")
        return redact_text(text).encode()
    cleaned = _sanitize_targets(document) if file == TARGETS else _scrub(document, ())
    return orjson.dumps(cleaned, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


# -- collecting ------------------------------------------------------------------------------------


def _envelope_error(body: bytes) -> str | None:
    """`errorType: error` of a Prometheus error envelope, or None if the body is not one."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, dict) and document.get("status") == "error":
        return f"{document.get('errorType') or 'unknown errorType'}: {document.get('error') or 'no error text'}"
    return None


def _get(endpoint: Endpoint, path: str) -> bytes:
    """A 200 body; otherwise SourceError naming Prometheus' errorType and error when it sent them."""
    reply = endpoint.get(path)
    if reply.status == 200:
        return reply.body
    reason = _envelope_error(reply.body)
    if reason is None:
        reason = reply.body[:160].decode("utf-8", "replace").strip().replace("\n", " ")
    route = path.partition("?")[0]
    raise SourceError(
        NAME, f"GET {route} via {endpoint.access.describe()} answered HTTP {reply.status}: {redact_text(reason)}"
    )


def query_path(expression: str) -> str:
    return "/api/v1/query?" + urlencode({"query": expression}, quote_via=quote)


def _result_is_empty(body: bytes) -> bool:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    data = document.get("data") if isinstance(document, dict) else None
    return (
        isinstance(document, dict)
        and document.get("status") == "success"
        and isinstance(data, dict)
        and data.get("result") == []
    )


def run_query(endpoint: Endpoint, expressions: Sequence[str]) -> bytes:
    """The stored form of a usage query: the first expression with samples (a recording rule, then raw series)."""
    tried: list[dict[str, str]] = []
    for index, expression in enumerate(expressions):
        try:
            body = _get(endpoint, query_path(expression))
        except SourceError as exc:
            record: dict[str, Any] = {"expression": expression, "error": exc.reason}
            break
        if _result_is_empty(body) and index + 1 < len(expressions):
            tried.append({"expression": expression, "outcome": "no samples (recording rule absent?)"})
            continue
        try:
            record = {"expression": expression, "response": orjson.loads(body)}
        except orjson.JSONDecodeError:
            excerpt = body[:160].decode("utf-8", "replace")
            record = {"expression": expression, "error": f"the answer is not JSON: {excerpt!r}"}
        break
    if tried:
        record["tried"] = tried
    return orjson.dumps(record)


def collect(ctx: LiveContext) -> dict[str, bytes]:
    """Targets when the profile has a prometheus section; the usage queries when capacity reads them from here.

    A usage query that gets no answer is stored with its reason, so the capacity check errors with it
    while the target checks still judge what Prometheus did answer.
    """
    profile = ctx.profile
    section = profile.services.prometheus if profile.services is not None else None
    capacity = profile.capacity
    wants_usage = capacity is not None and capacity.source_of_usage == "prometheus" and capacity.usage is not None
    endpoint = ctx.endpoint(NAME, (section or Prometheus()).access)
    bodies: dict[str, bytes] = {}
    if section is not None:
        bodies[TARGETS] = _get(endpoint, TARGETS_PATH)
        if section.mesh is not None:
            bodies[MESH] = run_query(endpoint, (MESH_EXPRESSION,))
        if section.volumes is not None:
            bodies[VOLUMES] = run_query(endpoint, (VOLUME_EXPRESSION,))
    if wants_usage:
        for file, expressions in QUERIES.items():
            bodies[file] = run_query(endpoint, expressions)
    return bodies


SOURCE = ServiceSource(NAME, (TARGETS, CPU, MEMORY, MESH, VOLUMES), collect, sanitize)


# -- parsing ---------------------------------------------------------------------------------------


def _load(state: ClusterState, file: str) -> Any:
    body = state.document(NAME, file)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedObject(f"{NAME}/{file} is not valid JSON ({exc})") from None


def _data(document: Any, file: str) -> dict[str, Any]:
    """The `data` of a success envelope; an error envelope is an error naming errorType and error."""
    where = f"{NAME}/{file}"
    if not isinstance(document, dict):
        raise MalformedObject(f"{where}: expected a Prometheus API envelope (a JSON object)")
    status = document.get("status")
    if status == "error":
        error_type = document.get("errorType") or "unknown errorType"
        raise CouldNotEvaluate(f'{where}: Prometheus answered status "error": {error_type}: {document.get("error")}')
    if status != "success":
        raise MalformedObject(f'{where}: envelope status is {status!r}, expected "success" or "error"')
    data = document.get("data")
    if not isinstance(data, dict):
        raise MalformedObject(f"{where}: data is missing or not an object")
    return data


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    health: Literal["up", "down", "unknown"]
    last_error: str
    last_scrape: str
    scrape_url: str
    scrape_pool: str = ""

    @property
    def name(self) -> str:
        return f"{self.job}/{self.instance}"

    def culprit(self) -> Culprit:
        error = self.last_error if len(self.last_error) <= MAX_ERROR_TEXT else self.last_error[:MAX_ERROR_TEXT] + "..."
        seen = {"unknown": "unknown (not scraped yet)"}.get(self.health, self.health)
        observed = f"{seen}: {error}" if error else seen
        details = {
            "job": self.job,
            "instance": self.instance,
            "health": self.health,
            "lastError": self.last_error,
            "lastScrape": self.last_scrape,
            "scrapeUrl": self.scrape_url,
        }
        return Culprit(self.name, observed, details)


def _target(raw: Any, index: int) -> Target:
    where = f"{NAME}/{TARGETS}: activeTargets[{index}]"
    if not isinstance(raw, dict):
        raise MalformedObject(f"{where} is not an object")
    labels = raw.get("labels")
    url = raw.get("scrapeUrl")
    if isinstance(url, str):
        where += f" ({url})"
    if not isinstance(labels, dict) or not isinstance(labels.get("job"), str):
        raise MalformedObject(f"{where}: labels.job is missing")
    health = raw.get("health")
    if health not in HEALTH:
        raise MalformedObject(f"{where}: health is {health!r}, expected one of {', '.join(HEALTH)}")
    last_error = raw.get("lastError", "")
    if not isinstance(last_error, str):
        raise MalformedObject(f"{where}: lastError is not a string")
    instance = labels.get("instance")
    return Target(
        job=labels["job"],
        instance=instance if isinstance(instance, str) else str(url or f"target {index}"),
        health=health,
        last_error=last_error,
        last_scrape=str(raw.get("lastScrape", "")),
        scrape_url=str(url or ""),
        scrape_pool=str(raw.get("scrapePool") or ""),
    )


def active_targets(state: ClusterState) -> list[Target]:
    """Every active target, parsed strictly; none at all is an error (Prometheus scrapes nothing we could judge)."""
    data = _data(_load(state, TARGETS), TARGETS)
    raw = data.get("activeTargets")
    if not isinstance(raw, list):
        raise MalformedObject(f"{NAME}/{TARGETS}: data.activeTargets is missing or not a list")
    if not raw:
        raise CouldNotEvaluate(f"{NAME}/{TARGETS}: Prometheus reports no active targets (no scrape configuration?)")
    return [_target(t, i) for i, t in enumerate(raw)]


# -- target checks ---------------------------------------------------------------------------------


def _percent(ratio: float | Fraction) -> str:
    text = f"{float(ratio):.1%}"
    return text.replace(".0%", "%")


@dataclass(frozen=True)
class UpRatio(Derived):
    """Share of active targets whose last scrape succeeded."""

    section: Prometheus

    @property
    def traced(self) -> Prometheus:
        return self.section

    def __str__(self) -> str:
        return f"at least {_percent(self.section.min_up_ratio)} of Prometheus' active targets are up"


@dataclass(frozen=True)
class JobUp(Derived):
    """A scrape job that must have at least one target up."""

    job: str
    section: Prometheus

    @property
    def traced(self) -> Prometheus:
        return self.section

    def __str__(self) -> str:
        return f"Prometheus job {self.job} has at least one target up"


def expand(profile: Profile) -> list[tuple[str, Any]] | None:
    section = profile.services.prometheus if profile.services is not None else None
    if section is None:
        return None
    return [("up-ratio", UpRatio(section)), *((f"job/{job}", JobUp(job, section)) for job in section.jobs)]


def up_ratio(state: ClusterState, expected: UpRatio, _profile: Profile) -> Finding:
    targets = active_targets(state)
    down = [t for t in targets if t.health != "up"]
    up = len(targets) - len(down)
    ratio = Fraction(up, len(targets))
    minimum = Fraction(str(expected.section.min_up_ratio))
    listing = f"; not up: {', '.join(t.name for t in down)}" if down else ""
    return Finding(
        expected=f"at least {_percent(minimum)} of active targets up",
        observed=f"{up}/{len(targets)} targets up ({_percent(ratio)}){listing}",
        inspected=len(targets),
        culprits=[t.culprit() for t in down] if ratio < minimum else [],
        evidence=(f"{NAME}/{TARGETS}",),
    )


def job_up(state: ClusterState, expected: JobUp, _profile: Profile) -> Finding:
    targets = active_targets(state)
    mine = [t for t in targets if t.job == expected.job]
    up = [t for t in mine if t.health == "up"]
    if not mine:
        jobs = sorted({t.job for t in targets})
        return Finding(
            expected=f"job {expected.job}: at least one target up",
            observed=f"job {expected.job}: no active target among {len(targets)} (jobs: {', '.join(jobs)})",
            inspected=len(targets),
            culprits=[Culprit(f"job {expected.job}", "no active target (not configured or nothing discovered)")],
            evidence=(f"{NAME}/{TARGETS}",),
        )
    return Finding(
        expected=f"job {expected.job}: at least one target up",
        observed=f"job {expected.job}: {len(up)}/{len(mine)} targets up",
        inspected=len(mine),
        culprits=[] if up else [t.culprit() for t in mine],
        evidence=(f"{NAME}/{TARGETS}",),
    )


def targets(state: ClusterState, expected: UpRatio | JobUp, profile: Profile) -> Finding:
    if isinstance(expected, UpRatio):
        return up_ratio(state, expected, profile)
    return job_up(state, expected, profile)


# -- utilization -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageSample:
    """One cluster-wide ratio from a Prometheus instant query."""

    value: float
    at: datetime
    expression: str
    tried: tuple[str, ...]
    file: str

    def describe(self) -> str:
        when = self.at.isoformat().replace("+00:00", "Z")
        fallback = f"; {', '.join(self.tried)} had no samples" if self.tried else ""
        return f"Prometheus: {self.expression} at {when}{fallback}"


def _float(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return None
    return None


def recorded_query(state: ClusterState, file: str) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """A stored instant query: its expression, the expressions tried before it, and the `data` of its answer."""
    where = f"{NAME}/{file}"
    document = _load(state, file)
    expression = "(expression not recorded)"
    tried: tuple[str, ...] = ()
    if isinstance(document, dict) and "status" not in document:
        recorded = document.get("expression")
        if not isinstance(recorded, str):
            raise MalformedObject(f"{where}: expected a /api/v1/query body or {{expression, response}}")
        expression = recorded
        attempts = document.get("tried")
        if isinstance(attempts, list):
            tried = tuple(str(a.get("expression")) for a in attempts if isinstance(a, dict))
        if "error" in document:
            raise CouldNotEvaluate(f"{where}: query {expression} got no answer: {document['error']}")
        document = document.get("response")
    return expression, tried, _data(document, file)


@dataclass(frozen=True)
class Series:
    """One sample of an instant vector: its labels and its finite value."""

    labels: dict[str, str]
    value: float


def vector(state: ClusterState, file: str, what: str) -> tuple[str, list[Series]]:
    """The samples of a stored vector query; no series at all is could-not-evaluate (`what` says which metric)."""
    where = f"{NAME}/{file}"
    expression, _tried, data = recorded_query(state, file)
    result_type, result = data.get("resultType"), data.get("result")
    if result_type != "vector":
        raise CouldNotEvaluate(f"{where}: {expression} gave a {result_type} result, expected a vector")
    if not isinstance(result, list):
        raise MalformedObject(f"{where}: data.result is not a list")
    if not result:
        raise CouldNotEvaluate(f"{where}: {expression} gave no series (is {what} scraped?)")
    found = []
    for index, sample in enumerate(result):
        metric = sample.get("metric") if isinstance(sample, dict) else None
        pair = sample.get("value") if isinstance(sample, dict) else None
        if not isinstance(metric, dict) or not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
            raise MalformedObject(f'{where}: result[{index}] has no metric and value [timestamp, "number"]')
        value = _float(pair[1])
        if value is None or not math.isfinite(value):
            # NaN is what 0/0 gives (an idle volume's ratio, a rate over no requests): unjudgeable, never a pass.
            raise CouldNotEvaluate(f"{where}: {expression} gave {pair[1]!r} for {metric}, not a finite number")
        found.append(Series({str(k): str(v) for k, v in metric.items()}, value))
    return expression, found


def usage_sample(state: ClusterState, resource: Literal["cpu", "memory"]) -> UsageSample:
    """The query result the capacity check judges: exactly one sample holding a finite, non-negative number."""
    file = USAGE_FILES[resource]
    where = f"{NAME}/{file}"
    expression, tried, data = recorded_query(state, file)
    result_type, result = data.get("resultType"), data.get("result")
    if result_type != "vector":
        raise CouldNotEvaluate(f"{where}: {expression} gave a {result_type} result, expected a vector of one sample")
    if not isinstance(result, list):
        raise MalformedObject(f"{where}: data.result is not a list")
    if len(result) != 1:
        why = "no samples (are node-exporter metrics scraped?)" if not result else f"{len(result)} samples"
        raise CouldNotEvaluate(f"{where}: {expression} gave {why}; expected exactly one cluster-wide sample")
    sample = result[0]
    pair = sample.get("value") if isinstance(sample, dict) else None
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        raise MalformedObject(f'{where}: the sample has no value [timestamp, "number"]')
    value, stamp = _float(pair[1]), _float(pair[0])
    if value is None or not math.isfinite(value):
        raise CouldNotEvaluate(f"{where}: {expression} gave {pair[1]!r}, not a finite number")
    if value < 0:
        raise CouldNotEvaluate(f"{where}: {expression} gave {pair[1]}, a negative utilization")
    try:
        at = datetime.fromtimestamp(stamp, UTC) if stamp is not None else None
    except (OverflowError, OSError, ValueError):
        at = None
    if at is None:
        raise MalformedObject(f"{where}: the sample's timestamp {pair[0]!r} is not a Unix time")
    return UsageSample(value, at, expression, tried, file)
