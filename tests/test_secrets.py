"""The redaction layer: every encoding of a registered secret, credential patterns, and a canary run.

The canary test plants one secret in a kubeconfig token, a pod's env value, annotations, a Prometheus
scrape URL and a failing pod's status, runs the suite live and on the snapshot, and finds no trace of
it, in any encoding, in any file of the run or in pytest's output.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
import pluggy
import pytest
import yaml

from conformance import secrets
from conformance.cluster.evidence import write_evidence
from conformance.cluster.live import load_target
from conformance.cluster.redaction import LAST_APPLIED, strip_object
from conformance.cluster.state import ClusterState, Provenance
from conformance.gate import BAD_INPUT
from conformance.profile.model import Profile
from conformance.profile.services import Credential
from conformance.services.source import LiveContext

from conftest import DEMO, ROOT, Snapshot, SuiteRun, run_suite
from kubeapi import KubeApiServer, write_kubeconfig
from promserver import snapshot_proxy

# Characters that URL-encoding changes, and a length and bytes for which base64 is padded and its
# standard and URL-safe alphabets differ: every form the grep looks for is distinct.
CANARY = "cAn4ry/S3cr+t=Qz9xZq?~"
CANARY_ENV = "CONFORMANCE_TEST_CANARY"
CRASHING = ("monitoring", "loki-0")
SCRAPED_JOB = "node-exporter"


def encodings(secret: str) -> dict[str, str]:
    """The forms the issue asks to grep for: raw, base64 (standard and URL-safe, padded or not), URL-encoded."""
    raw = secret.encode()
    std, url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    return {
        "raw": secret,
        "base64": std,
        "base64 unpadded": std.rstrip("="),
        "base64url": url,
        "base64url unpadded": url.rstrip("="),
        "url-encoded": quote(secret, safe=""),
        "url-encoded (plus)": quote_plus(secret),
        "url-encoded (path)": quote(secret),
    }


_FORMS = encodings(CANARY)
assert (
    len({_FORMS[k] for k in ("raw", "base64", "base64 unpadded", "base64url", "base64url unpadded", "url-encoded")})
    == 6
)


def traces(data: bytes, secret: str = CANARY) -> list[str]:
    return [name for name, form in encodings(secret).items() if form.encode() in data]


@pytest.fixture
def registry() -> Iterator[None]:
    """A clean process-wide registry for the test, and none of its secrets left behind."""
    secrets.forget_all()
    yield
    secrets.forget_all()


# -- the layer, unit by unit -----------------------------------------------------------------------------


def test_every_encoding_of_a_registered_secret_is_redacted(registry: None) -> None:
    secrets.register(CANARY)
    raw = CANARY.encode()
    shapes = {
        **encodings(CANARY),
        "url-encoded lower hex": re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(CANARY, safe="")),
        "url-encoded twice": quote(quote(CANARY, safe=""), safe=""),
        "json ascii": json.dumps({"k": CANARY}),
        "json slash-escaped": json.dumps(CANARY).replace("/", "\\/"),
        "html": html.escape(CANARY),
        "html(json(html)) as pytest-html embeds logs": html.escape(json.dumps(html.escape(CANARY))),
        "inside Basic user:password": base64.b64encode(b"scraper:" + raw).decode(),
        "base64 at offset 1": base64.b64encode(b"x" + raw + b"tail").decode(),
        "base64 at offset 2": base64.b64encode(b"xy" + raw + b"tail").decode(),
        "urlsafe at offset 1": base64.urlsafe_b64encode(b"x" + raw + b"tail").decode(),
    }
    for name, shape in shapes.items():
        redacted = secrets.redact_text(f"before {shape} after")
        assert secrets.REDACTED in redacted, name
        assert not traces(redacted.encode()), name
        assert redacted.startswith("before "), name
        assert redacted.endswith(" after"), name


def test_a_secret_with_markup_and_non_ascii_characters_is_redacted_however_escaped(registry: None) -> None:
    import markupsafe

    secret = """pä'ss<wö>rd&"q"\\"""
    secrets.register(secret)
    shapes = {
        "json ascii": json.dumps(secret),
        "json unicode": json.dumps(secret, ensure_ascii=False),
        "html": html.escape(secret),
        "jinja": str(markupsafe.escape(secret)),
        "pytest-html log in its JSON blob attribute": str(markupsafe.escape(json.dumps(html.escape(secret)))),
        "the same, ensure_ascii off": html.escape(json.dumps(html.escape(secret), ensure_ascii=False)),
    }
    for name, shape in shapes.items():
        assert secret not in secrets.redact_text(shape), name
        assert secrets.redact_text(shape).strip('"').replace("&#34;", "").replace("&quot;", "") == "***", name


def test_bytes_and_redaction_keep_json_valid(registry: None) -> None:
    secrets.register(CANARY)
    body = orjson.dumps(
        {
            "env": [{"name": "TOKEN", "value": CANARY}],
            "url": f"http://scraper:{quote(CANARY, safe='')}@10.0.0.1:9100/metrics",
            "token": "opaque-value-1",
            "serviceAccountToken": {"expirationSeconds": 3607, "path": "token"},
            "count": {"token": 5},
            "binary": "\u00ff",
        }
    )
    cleaned = secrets.redact_bytes(body)
    document = orjson.loads(cleaned)  # still JSON
    assert document["env"][0]["value"] == "***"
    assert document["url"] == "http://***@10.0.0.1:9100/metrics"
    assert document["token"] == "***"
    assert document["serviceAccountToken"] == {"expirationSeconds": 3607, "path": "token"}
    assert document["count"] == {"token": 5}
    assert secrets.redact_bytes(b"\xff\xfe not utf-8 " + CANARY.encode()) == b"\xff\xfe not utf-8 ***"


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("https://admin:hunter2@127.0.0.1:9/?x=1", "https://***@127.0.0.1:9/?x=1"),
        ("kafka://u:p@ss@broker:9092/", "kafka://***@broker:9092/"),
        ("Authorization: Bearer eyJhbGciOi.J9x", "Authorization: Bearer ***"),
        ('{"Authorization": "Basic dXNlcjpwYXNz"}', '{"Authorization": "Basic ***"}'),
        ("Proxy-Authorization: Negotiate abc123", "Proxy-Authorization: Negotiate ***"),
        ("sent bearer 9f8e7d6c5b4a to the server", "sent bearer *** to the server"),
        ("header Basic YWRtaW46czNjcjN0 rejected", "header Basic *** rejected"),
        ("GET /metrics?token=abc&module=x", "GET /metrics?token=***&module=x"),
        ("password=hunter2 user=bob", "password=*** user=bob"),
        ("PGPASSWORD: 'a b c'", "PGPASSWORD: '***'"),
        ('"client_secret": "s p a c e"', '"client_secret": "***"'),
        ("X-Api-Key=QWERTY", "X-Api-Key=***"),
        # Prose and names that merely mention credentials stay as they are.
        ("Bearer tokens need url or port_forward", "Bearer tokens need url or port_forward"),
        ("Basic authentication is disabled", "Basic authentication is disabled"),
        ("secretName: kong-tls", "secretName: kong-tls"),
        ("tokens=3", "tokens=3"),
        ('"serviceAccountToken": {"path": "token"}', '"serviceAccountToken": {"path": "token"}'),
        ("http://10.0.0.1:9100/metrics", "http://10.0.0.1:9100/metrics"),
    ],
)
def test_patterns(text: str, redacted: str, registry: None) -> None:
    assert secrets.redact_text(text) == redacted
    assert secrets.redact_text(redacted) == redacted  # idempotent


def test_short_values_are_not_registered(registry: None) -> None:
    secrets.register("admin")
    secrets.register("")
    secrets.register(None)
    assert secrets.registered() == 0
    assert secrets.redact_text("admin logged in") == "admin logged in"


def test_user_password_registers_the_password_alone(registry: None) -> None:
    secrets.register("scraper:" + CANARY)
    assert secrets.redact_text(f"password {CANARY}") == "password ***"


def test_redact_value_reaches_frozen_dataclasses_and_exceptions(registry: None) -> None:
    from conformance.check import Culprit
    from conformance.errors import SourceError

    secrets.register(CANARY)
    culprit = Culprit(f"ns/{CANARY}", f"seen {CANARY}", {"why": CANARY})
    secrets.redact_value(culprit)  # a dataclass from the suite: redacted in place, frozen or not
    assert (culprit.name, culprit.observed, culprit.details) == ("ns/***", "seen ***", {"why": "***"})
    error = SourceError("pods", f"forbidden: {CANARY}", {"message": CANARY})
    try:
        try:
            raise ValueError(CANARY)
        except ValueError as inner:
            raise error from inner
    except SourceError as exc:
        secrets.redact_exception(exc)
    assert str(error) == "pods: forbidden: ***"
    assert error.reason == "forbidden: ***"
    assert error.status == {"message": "***"}
    assert str(error.__cause__) == "***"
    failed = pytest.fail.Exception(f"failed: {CANARY}")
    secrets.redact_exception(failed)
    assert str(failed) == "failed: ***"


def test_scrub_files_rewrites_only_files_holding_a_secret(registry: None, tmp_path: Path) -> None:
    secrets.register(CANARY)
    clean, dirty = tmp_path / "clean.txt", tmp_path / "dirty.html"
    clean.write_text("token=not-registered\n")
    dirty.write_text(f"<p>{html.escape(CANARY)}</p>\n")
    assert secrets.scrub_files([clean, dirty]) == [dirty]
    assert dirty.read_text() == "<p>***</p>\n"
    assert clean.read_text() == "token=not-registered\n"


def test_the_terminal_stream_redacts_what_passes_through(registry: None) -> None:
    import io

    secrets.register(CANARY)
    target = io.StringIO()
    stream = secrets.RedactingStream(target)
    assert stream.write(f"token {CANARY}\n") == len(f"token {CANARY}\n")
    stream.writelines([f"{quote(CANARY, safe='')}\n"])
    stream.flush()
    assert target.getvalue() == "token ***\n***\n"
    assert stream.isatty() is False


def test_wrapper_order_is_as_the_hooks_assume() -> None:
    """pluggy resumes the trylast wrapper first and the tryfirst wrapper last (see _ReportRedaction)."""
    mark, spec = pluggy.HookimplMarker("demo"), pluggy.HookspecMarker("demo")
    resumed: list[str] = []

    class Spec:
        @spec(firstresult=True)
        def make(self) -> str:  # type: ignore[empty-body]
            ...

    def wrapper(name: str, **order: bool) -> object:
        class Plugin:
            @mark(wrapper=True, **order)
            def make(self) -> Any:
                result = yield
                resumed.append(name)
                return result

        return Plugin()

    class Maker:
        @mark
        def make(self) -> str:
            resumed.append("report made")
            return "report"

    manager = pluggy.PluginManager("demo")
    manager.add_hookspecs(Spec)
    manager.register(Maker())
    for plugin in (wrapper("trylast", trylast=True), wrapper("plain"), wrapper("tryfirst", tryfirst=True)):
        manager.register(plugin)
    manager.hook.make()
    assert resumed == ["report made", "trylast", "plain", "tryfirst"]


# -- where secrets are learnt ------------------------------------------------------------------------------


PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n"
)


def test_kubeconfig_token_client_key_and_exec_plugin_tokens_are_registered(
    registry: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    token, exec_token = "kubeconfig-token-1f2e3d4c", "exec-plugin-token-9a8b7c6d"
    key_data = base64.b64encode(PEM.encode()).decode()
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": exec_token},
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [
            {"name": "token", "user": {"token": token, "client-key-data": key_data}},
            {
                "name": "exec",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": sys.executable,
                        "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
                        "interactiveMode": "Never",
                    }
                },
            },
        ],
        "contexts": [
            {"name": "token", "context": {"cluster": "c", "user": "token"}},
            {"name": "exec", "context": {"cluster": "c", "user": "exec"}},
        ],
        "current-context": "token",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    load_target(str(path), None)
    load_target(str(path), "exec")
    for secret in (token, exec_token, PEM.strip(), key_data, PEM.splitlines()[1]):
        assert secrets.redact_text(f"[{secret}]") == "[***]"
    output = capsys.readouterr()
    for secret in (token, exec_token, key_data):
        assert secret not in output.out + output.err + caplog.text


def test_refreshed_tokens_and_basic_auth_are_registered(registry: None) -> None:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.api_key = {"authorization": "Bearer first-token-aaaa1111"}
    configuration.username, configuration.password = "admin", "basic-password-42"

    def rotate(config: Any) -> None:
        config.api_key["authorization"] = "Bearer rotated-token-bbbb2222"

    configuration.refresh_api_key_hook = rotate
    secrets.register_configuration(configuration)
    assert secrets.redact_text("first-token-aaaa1111 basic-password-42") == "*** ***"
    assert secrets.redact_text("rotated-token-bbbb2222") == "rotated-token-bbbb2222"
    configuration.auth_settings()  # what KubeClient.headers() calls before every request
    assert secrets.redact_text("rotated-token-bbbb2222") == "***"
    basic = base64.b64encode(b"admin:basic-password-42").decode()
    assert secrets.redact_text(basic) == "***"


def test_credentials_read_by_a_live_context_are_registered(registry: None, tmp_path: Path) -> None:
    header = {"apiVersion": "conformance/v1alpha1", "kind": "Profile", "metadata": {"name": "x"}}
    profile = Profile.model_validate(header)
    file = tmp_path / "token"
    file.write_text("file-credential-77aa\n")
    context = LiveContext(profile, None, {"GRAFANA_TOKEN": "env-credential-88bb"})
    assert context.credential("grafana", Credential(env="GRAFANA_TOKEN")) == "env-credential-88bb"
    assert context.credential("kong", Credential(file=str(file))) == "file-credential-77aa"
    assert secrets.redact_text("env-credential-88bb file-credential-77aa") == "*** ***"


# -- what is stored ----------------------------------------------------------------------------------------


def test_annotations_holding_a_secret_are_withheld_whole(registry: None) -> None:
    secrets.register(CANARY)
    pod = {
        "metadata": {
            "name": "p",
            "annotations": {
                LAST_APPLIED: json.dumps({"token": CANARY}),
                "example.com/config": f"rendered: {{user: app, key: {CANARY}}}",
                "example.com/dsn": "postgres://app:unregistered-pw@db:5432/app",
                "example.com/owner": "team-data",
            },
        },
        "spec": {
            "template": {"metadata": {"annotations": {"example.com/x": base64.b64encode(CANARY.encode()).decode()}}}
        },
    }
    strip_object(pod)
    assert pod["metadata"]["annotations"] == {
        "example.com/config": "***",
        "example.com/dsn": "postgres://***@db:5432/app",
        "example.com/owner": "team-data",
    }
    assert pod["spec"]["template"]["metadata"]["annotations"] == {"example.com/x": "***"}


def test_evidence_files_pass_through_the_layer(registry: None, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    secrets.register(CANARY)
    state = ClusterState(Provenance("live", "https://u:pw@api:6443", datetime.now(UTC)))
    state.lists["pods"] = [{"metadata": {"name": "p", "namespace": "n"}, "status": {"message": f"x {CANARY}"}}]
    state.documents["kong/status.json"] = json.dumps({"server": quote(CANARY, safe="")}).encode()
    written = write_evidence(state, tmp_path)
    assert {p.name for p in written} == {"meta.json", "pods.json", "status.json"}
    for path in written:
        data = path.read_bytes()
        assert not traces(data), path
        orjson.loads(data)
    assert b"https://***@api:6443" in (tmp_path / "meta.json").read_bytes()


# -- the canary run ------------------------------------------------------------------------------------------


def plant_canary(s: Snapshot) -> None:
    """The canary as an env value, in annotations, in a scrape URL and in a crash-looping pod's status."""
    namespace, name = CRASHING
    pod = s.get("pods", namespace, name)
    pod["spec"]["containers"][0].setdefault("env", []).append({"name": "API_TOKEN", "value": CANARY})
    pod["metadata"].setdefault("annotations", {}).update(
        {LAST_APPLIED: json.dumps({"env": [{"name": "API_TOKEN", "value": CANARY}]}), "example.com/note": CANARY}
    )
    status = pod["status"]["containerStatuses"][0]
    waiting = {"reason": f"CrashLoopBackOff {CANARY}", "message": f"back-off restarting, token {CANARY}"}
    status.update(ready=False, started=False, restartCount=7, state={"waiting": waiting})
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition["status"] = "False"
    deployment = s.items("deployments.apps")[0]
    deployment["metadata"].setdefault("annotations", {})["example.com/rotated-key"] = f"key={CANARY}"
    targets = s.files["prometheus/targets.json"]["data"]["activeTargets"]
    target = next(t for t in targets if t["labels"]["job"] == SCRAPED_JOB)
    address = target["labels"]["instance"]
    url = f"http://scraper:{quote(CANARY, safe='')}@{address}/metrics"
    target.update(scrapeUrl=url, globalUrl=url)


def canary_profile(directory: Path) -> Path:
    """prod's Kubernetes expectations and its Prometheus section (reached by the service proxy)."""
    document = yaml.safe_load((ROOT / "profiles" / "prod.yaml").read_text())
    document["metadata"]["name"] = "canary"
    document["services"] = {"prometheus": document["services"]["prometheus"]}
    document.pop("waivers", None)
    # Whole-object evidence: where the canary planted in annotations and env could reach a file at all.
    document.setdefault("collection", {})["evidence"] = "whole"
    path = directory / "canary.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def assert_no_trace(run: SuiteRun, clean_at_source: bool = True) -> None:
    files = [p for p in run.run_dir.rglob("*") if p.is_file()]
    names = {p.relative_to(run.run_dir).parts[0] for p in files}
    assert {"report.html", "junit.xml", "allure-results", "evidence"} <= names, names
    assert any(p.suffix == ".json" for p in (run.run_dir / "allure-results").iterdir())
    for path in files:
        assert not traces(path.read_bytes()), f"{path} holds the canary as {traces(path.read_bytes())}"
    output = "\n".join(run.result.outlines + run.result.errlines)
    assert not traces(output.encode()), f"pytest output holds the canary as {traces(output.encode())}"
    if clean_at_source:
        # Clean where it was produced: the last sweep over the run's files found nothing to remove.
        assert "escaped redaction" not in run.result.stderr.str()


def assert_failure_shows_redaction(run: SuiteRun) -> None:
    namespace, name = CRASHING
    outcome = run.outcomes[f"test_no_failing_pods[{namespace}]"]
    assert outcome.outcome == "failed", outcome
    assert f"{namespace}/{name} CrashLoopBackOff *** READY 0/1 (restarts 7)" in outcome.message
    assert f"{namespace}/{name} CrashLoopBackOff *** READY 0/1" in run.result.stdout.str()
    # Stored: the annotation withheld whole, the last-applied annotation and the env value dropped.
    pods = orjson.loads((run.run_dir / "evidence" / "kubernetes" / "pods.json").read_bytes())["items"]
    (pod,) = [p for p in pods if (p["metadata"]["namespace"], p["metadata"]["name"]) == CRASHING]
    assert pod["metadata"]["annotations"] == {"example.com/note": "***"}
    assert [e for e in pod["spec"]["containers"][0]["env"] if e["name"] == "API_TOKEN"] == [{"name": "API_TOKEN"}]


def test_a_canary_secret_reaches_no_artifact_live_or_offline(
    demo: Snapshot, pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant_canary(demo)
    snapshot = demo.write(tmp_path / "snapshot")
    # The planted snapshot itself holds it (raw and URL-encoded): the grep below would see it.
    assert traces((snapshot / "kubernetes" / "pods.json").read_bytes()) == ["raw"]
    assert "url-encoded" in traces((snapshot / "prometheus" / "targets.json").read_bytes())
    profile = canary_profile(tmp_path)

    with KubeApiServer.from_snapshot(snapshot, token=CANARY) as api:
        api.register_service_proxy("monitoring", "prometheus", 9090, snapshot_proxy(snapshot))
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="canary")
        live = run_suite(pytester, f"--kubeconfig={kubeconfig}", "-rA", "-v", profile=str(profile))
        assert all(r.has_authorization for r in api.requests)
    assert any(name.startswith("test_prometheus_targets") for name in live.outcomes), live.result.stdout.str()
    assert_failure_shows_redaction(live)
    assert_no_trace(live)
    stored = orjson.loads((live.run_dir / "evidence" / "prometheus" / "targets.json").read_bytes())
    urls = [t["scrapeUrl"] for t in stored["data"]["activeTargets"] if t["labels"]["job"] == SCRAPED_JOB]
    assert urls[0] == "http://***@10.0.0.1:9100/metrics"  # the one planted

    # Offline, nothing reads a kubeconfig or a credential: the run is told the secret by name.
    monkeypatch.setenv(CANARY_ENV, CANARY)
    offline = run_suite(pytester, f"--snapshot={snapshot}", f"--redact-env={CANARY_ENV}", "-rA", profile=str(profile))
    assert_failure_shows_redaction(offline)
    assert_no_trace(offline)
    assert {k: v.outcome for k, v in offline.outcomes.items()} == {k: v.outcome for k, v in live.outcomes.items()}


def test_kubeconfig_secrets_are_registered_before_anything_prints(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A server URL with userinfo and an unreachable server: the error names the server, not the token."""
    config = write_kubeconfig(tmp_path / "kubeconfig", f"http://admin:{quote(CANARY, safe='')}@127.0.0.1:9", CANARY)
    profile = tmp_path / "quick.yaml"
    document = yaml.safe_load(canary_profile(tmp_path).read_text())
    document["collection"] = {"retries": 0, "connect_timeout": "1s", "read_timeout": "1s"}
    profile.write_text(yaml.safe_dump(document))
    run = run_suite(pytester, f"--kubeconfig={config}", "-k", "pods", "-rA", profile=str(profile))
    outcomes = run.outcomes
    assert outcomes
    assert all(o.outcome == "error" for o in outcomes.values())
    # The run's source label names the server URL: files other plugins write from it (Allure's environment
    # and executor) may need the final sweep; the result is the same, nothing holds the secret.
    assert_no_trace(run, clean_at_source=False)


def test_text_outside_reports_is_redacted_on_the_terminal(
    demo: Snapshot, pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run header is no test report: it reaches the terminal through the redacting stream only."""
    secret = "Header-Secret-51c0"
    where = tmp_path / f"profiles-{secret}"
    where.mkdir()
    profile = canary_profile(where)
    monkeypatch.setenv(CANARY_ENV, secret)
    run = run_suite(
        pytester,
        f"--snapshot={demo.write(tmp_path / 'snapshot')}",
        f"--redact-env={CANARY_ENV}",
        "-k",
        "namespace_labels",
        profile=str(profile),
    )
    assert run.result.ret == 0, run.result.stdout.str()
    header = [line for line in run.result.outlines if line.startswith("conformance: profile canary")]
    assert header, run.result.stdout.str()
    assert "/profiles-***/canary.yaml" in header[0]
    assert secret not in run.result.stdout.str() + run.result.stderr.str()
    assert secret not in (run.run_dir / "report.html").read_text()


def test_an_unknown_redact_env_name_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONFORMANCE_TEST_UNSET", raising=False)
    run = run_suite(pytester, f"--snapshot={DEMO}", "--redact-env=CONFORMANCE_TEST_UNSET")
    assert run.result.ret == BAD_INPUT
    run.result.stderr.fnmatch_lines(["ERROR: --redact-env CONFORMANCE_TEST_UNSET: no such environment variable"])


def test_the_final_sweep_trusts_only_unchanged_files_written_through_the_layer(registry: None, tmp_path: Path) -> None:
    from conformance.written import WrittenFiles

    outputs = WrittenFiles()
    secrets.register(CANARY)
    body = secrets.redact_bytes(f'{{"a": "{CANARY}"}}'.encode())
    written = outputs.write(tmp_path / "pods.json", [body], secrets.registry_size())
    assert outputs.digest(written) == hashlib.sha256(written.read_bytes()).hexdigest()
    assert secrets.scrub_files([written], outputs.clean) == []  # clean as written: not read again
    # Changed since it was written (another writer, same path): read and scrubbed like any file.
    with written.open("ab") as out:
        out.write(CANARY.encode())
    assert outputs.digest(written) is None
    assert secrets.scrub_files([written], outputs.clean) == [written]
    assert not traces(written.read_bytes())
    # A secret registered after a file was written: that file is read again too.
    clean = outputs.write(tmp_path / "nodes.json", [b'{"token": "later-secret-value-123"}'], secrets.registry_size())
    secrets.register("later-secret-value-123")
    assert secrets.scrub_files([clean], outputs.clean) == [clean]
    assert b"later-secret-value-123" not in clean.read_bytes()
