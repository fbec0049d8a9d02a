"""Run integrity: every run directory's manifest.json, and `python -m conformance verify` on it.

Runs go through the real suite (demo snapshot, and live against the Kubernetes API test server);
verification is run as users run it, as a command, on copies of a real run directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__
from conformance.cluster.identity import NOT_SERVED, live_identity, snapshot_identity
from conformance.cluster.live import load_target
from conformance.cluster.state import ClusterState, Provenance
from conformance.integrity import MANIFEST, git_revision
from conformance.profile.loader import load_profile
from conformance.profile.model import Collection

from conftest import DEMO, KUBE_TOKEN, ROOT, Snapshot, SuiteRun, run_suite
from kubeapi import DEFAULT_GROUPS, DEFAULT_USER, KubeApiServer

TOKEN = KUBE_TOKEN  # the token of the `server` fixture (tests/conftest.py)
REVIEW_V1 = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
KUBE_SYSTEM_UID = next(
    item["metadata"]["uid"]
    for item in json.loads((DEMO / "kubernetes" / "namespaces.json").read_text())["items"]
    if item["metadata"]["name"] == "kube-system"
)


def manifest_of(run: SuiteRun) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((run.run_dir / MANIFEST).read_text())
    return document


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_on_disk(run_dir: Path) -> set[str]:
    return {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()} - {MANIFEST}


def junit_counts(path: Path) -> dict[str, int]:
    """Outcomes as junit.xml tells them: waived checks are xfails, written as <skipped type="pytest.xfail">."""
    counts = dict.fromkeys(("passed", "failed", "error", "waived", "skipped"), 0)
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("failure") is not None:
            counts["failed"] += 1
        elif case.find("error") is not None:
            counts["error"] += 1
        elif (skipped := case.find("skipped")) is not None:
            counts["waived" if skipped.get("type") == "pytest.xfail" else "skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


def verify(path: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


# -- the manifest of a snapshot run ------------------------------------------------------------------------


def test_manifest_hashes_every_file_and_records_profile_suite_source_and_outcomes(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}")
    assert run.result.ret == 0, run.result.stdout.str()
    manifest = manifest_of(run)

    listed = manifest["files"]
    on_disk = files_on_disk(run.run_dir)
    assert set(listed) == on_disk
    assert {"report.html", "junit.xml", "evidence/meta.json", "evidence/kubernetes/pods.json"} <= on_disk
    assert any(name.startswith("allure-results/") for name in on_disk)
    for name, entry in listed.items():
        path = run.run_dir / name
        assert entry == {"sha256": sha256(path), "size": path.stat().st_size}, name

    loaded = load_profile("prod", ROOT / "profiles")
    assert manifest["profile"]["sha256"] == loaded.sha256
    assert manifest["profile"]["chain"] == [{"path": str(p), "sha256": sha256(p)} for p in loaded.chain]
    assert manifest["suite"]["version"] == __version__
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode == 0:
        assert manifest["suite"]["git"]["commit"] == head.stdout.strip()
        assert isinstance(manifest["suite"]["git"]["dirty"], bool)
    else:
        assert "git" not in manifest["suite"]

    assert manifest["run"]["exit_code"] == 0
    assert manifest["run"]["outcomes"] == junit_counts(run.run_dir / "junit.xml")
    assert manifest["run"]["outcomes"]["waived"] == 3
    assert manifest["run"]["started_at"] <= manifest["run"]["finished_at"]
    assert manifest["run"]["directory"] == run.run_dir.name
    assert manifest["cluster"] == {
        "source": "snapshot",
        "server": "https://10.0.0.1:6443",
        "context": "254carbon-prod",
        "kube_system_uid": KUBE_SYSTEM_UID,
        "server_version": "v1.31.4",
    }
    assert manifest["identity"] == {"username": "snapshot", "snapshot": str(DEMO)}


def test_manifest_of_a_failing_run_counts_failures_and_errors_and_keeps_the_exit_code(
    demo: Snapshot, pytester: pytest.Pytester
) -> None:
    pod = demo.get("pods", "kong", "kong-884b8f4bd-sr4v7")
    for status in pod["status"]["containerStatuses"]:
        status.update(ready=False, restartCount=12, state={"waiting": {"reason": "CrashLoopBackOff"}})
    demo.drop("namespaces")  # namespace checks cannot evaluate, and the snapshot no longer names kube-system
    run = run_suite(pytester, f"--snapshot={demo.write(pytester.path / 'snapshot')}")
    assert run.result.ret == 1
    manifest = manifest_of(run)
    counts = manifest["run"]["outcomes"]
    assert counts == junit_counts(run.run_dir / "junit.xml")
    assert counts["failed"] >= 1
    assert counts["error"] >= 1
    assert manifest["run"]["exit_code"] == 1
    assert manifest["run"]["checks"] == sum(counts.values())
    assert manifest["cluster"]["kube_system_uid"] is None
    assert "no kubernetes/namespaces.json" in manifest["cluster"]["unknown"]["kube_system_uid"]


LATE_WRITER = """
import pytest
from conformance.run.session import run_of

class Late:
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        run_of(session.config).run_dir.joinpath("late-sessionfinish.txt").write_text("last\\n")

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config):
        run_of(config).run_dir.joinpath("late-unconfigure.txt").write_text("last\\n")

def pytest_configure(config):
    # Registered after every conftest plugin: among trylast hooks, the latest registered runs last.
    config.pluginmanager.register(Late(), "late-writer")
"""


def test_files_other_plugins_write_at_the_very_end_are_in_the_manifest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(late_writer=LATE_WRITER)
    run = run_suite(pytester, f"--snapshot={DEMO}", "-p", "late_writer", "-k", "test_nodes")
    assert run.result.ret == 0, run.result.stdout.str() + run.result.stderr.str()
    listed = manifest_of(run)["files"]
    assert {"late-sessionfinish.txt", "late-unconfigure.txt"} <= set(listed)
    assert set(listed) == files_on_disk(run.run_dir)


# -- verify ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine() -> dict[str, Path]:
    return {}


@pytest.fixture
def run_copy(
    pytester: pytest.Pytester, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, pristine: dict[str, Path]
) -> Path:
    """A copy of one real demo run directory, safe to tamper with (the suite runs once per module for these)."""
    if "run" not in pristine:
        run = run_suite(pytester, f"--snapshot={DEMO}")
        assert (run.run_dir / MANIFEST).is_file(), run.result.stdout.str()
        kept = tmp_path_factory.mktemp("pristine") / run.run_dir.name
        pristine["run"] = Path(shutil.copytree(run.run_dir, kept, symlinks=True))
    return Path(shutil.copytree(pristine["run"], tmp_path / "run", symlinks=True))


def test_verify_accepts_an_untouched_run_through_the_latest_link(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}")
    latest = run.run_dir.parent / "latest"
    assert latest.is_symlink()
    count = len(manifest_of(run)["files"])
    for argument in (latest, run.run_dir):
        done = verify(argument)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"OK {argument}")
        assert f"{count} files match manifest.json" in lines[0]


def one_byte_changed(run_dir: Path) -> str:
    report = run_dir / "report.html"
    data = bytearray(report.read_bytes())
    data[len(data) // 2] ^= 0x01
    report.write_bytes(bytes(data))
    return "changed: report.html"


def evidence_deleted(run_dir: Path) -> str:
    (run_dir / "evidence" / "kubernetes" / "pods.json").unlink()
    return "missing: evidence/kubernetes/pods.json"


def file_added(run_dir: Path) -> str:
    (run_dir / "evidence" / "kubernetes" / "secrets.json").write_text('{"items": []}\n')
    return "added: evidence/kubernetes/secrets.json"


@pytest.mark.parametrize("tamper", [one_byte_changed, evidence_deleted, file_added])
def test_verify_names_every_changed_missing_or_added_file(run_copy: Path, tamper: Callable[[Path], str]) -> None:
    assert verify(run_copy).returncode == 0
    expected = tamper(run_copy)
    done = verify(run_copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert expected in done.stdout.splitlines()
    assert done.stdout.splitlines()[-1].startswith(f"FAILED {run_copy}: 1 ")
    assert "Traceback" not in done.stderr


def test_verify_lists_all_differences_at_once(run_copy: Path) -> None:
    expected = {one_byte_changed(run_copy), evidence_deleted(run_copy), file_added(run_copy)}
    done = verify(run_copy)
    assert done.returncode == 1
    assert expected <= set(done.stdout.splitlines())
    assert "1 changed, 1 missing, 1 added" in done.stdout


def test_a_signature_beside_the_manifest_is_not_an_added_file(run_copy: Path) -> None:
    (run_copy / "manifest.sig.bundle").write_text('{"mediaType": "application/vnd.dev.sigstore.bundle+json"}\n')
    assert verify(run_copy).returncode == 0
    (run_copy / "evidence" / "manifest.sig.bundle").write_text("{}\n")  # only beside the manifest
    assert "added: evidence/manifest.sig.bundle" in verify(run_copy).stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format": "cluster-conformance/manifest/v1", "files": {', "not valid JSON"),
        (b"[]", "not a run manifest"),
        (b'{"format": "cluster-conformance/manifest/v1", "files": []}', '"files" is missing or not an object'),
        (
            b'{"format": "cluster-conformance/manifest/v1", "files": {"report.html": {"sha256": "abc"}}}',
            "sha256 is not 64 lowercase hex digits",
        ),
        (
            b'{"format": "cluster-conformance/manifest/v1", "files": {"../x": {"sha256": "' + b"0" * 64 + b'"}}}',
            "is not a path inside the run directory",
        ),
        (None, "no manifest.json"),
    ],
    ids=["truncated", "not-an-object", "files-not-a-mapping", "bad-digest", "escaping-path", "missing"],
)
def test_an_unusable_manifest_is_exit_3_with_the_reason(run_copy: Path, content: bytes | None, message: str) -> None:
    copy = run_copy
    if content is None:
        (copy / MANIFEST).unlink()
    else:
        (copy / MANIFEST).write_bytes(content)
    done = verify(copy)
    assert done.returncode == 3, done.stdout + done.stderr
    assert message in done.stderr
    assert done.stderr.startswith(f"error: {copy}")
    assert "Traceback" not in done.stderr


def test_verify_of_a_directory_that_does_not_exist_is_exit_3(tmp_path: Path) -> None:
    done = verify(tmp_path / "nowhere")
    assert done.returncode == 3
    assert "not a directory" in done.stderr


# -- live runs: who ran the suite, against which cluster ---------------------------------------------------


def test_live_manifest_records_the_api_server_the_cluster_and_who_ran_it(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    run = run_suite(pytester, f"--kubeconfig={kubeconfig}", "-k", "test_nodes")
    assert run.result.ret == 0, run.result.stdout.str()
    manifest = manifest_of(run)
    assert manifest["cluster"] == {
        "source": "live",
        "server": server.url,
        "context": "254carbon-test",
        "kube_system_uid": KUBE_SYSTEM_UID,
        "server_version": "v1.31.4",
    }
    identity = manifest["identity"]
    assert identity["username"] == DEFAULT_USER
    assert identity["groups"] == list(DEFAULT_GROUPS)
    assert identity["via"] == "authentication.k8s.io/v1"
    assert manifest["run"]["outcomes"] == junit_counts(run.run_dir / "junit.xml")
    assert set(manifest["files"]) == files_on_disk(run.run_dir)

    reviews = [r for r in server.requests if r.path == REVIEW_V1]
    assert [(r.method, r.status, r.headers.get("Content-Type")) for r in reviews] == [("POST", 201, "application/json")]
    assert json.loads(reviews[0].body) == {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    assert reviews[0].has_authorization
    # test_nodes does not read namespaces: kube-system was asked for once, by name.
    assert [r.path for r in server.requests if "namespaces" in r.path] == ["/api/v1/namespaces/kube-system"]
    text = (run.run_dir / MANIFEST).read_text()
    assert TOKEN not in text
    assert kubeconfig.read_text() not in text
    assert verify(run.run_dir).returncode == 0


def test_a_server_without_selfsubjectreview_is_recorded_and_the_run_still_passes(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester
) -> None:
    server.self_subject_review_versions = ()  # Kubernetes 1.25 and older: every version answers 404
    run = run_suite(pytester, f"--kubeconfig={kubeconfig}", "-k", "test_nodes")
    assert run.result.ret == 0, run.result.stdout.str()
    manifest = manifest_of(run)
    assert manifest["identity"]["username"] == NOT_SERVED
    assert "404" in manifest["identity"]["reason"]
    assert manifest["run"]["exit_code"] == 0
    tried = [(r.method, r.path, r.status) for r in server.requests if "selfsubjectreviews" in r.path]
    assert tried == [
        ("POST", f"/apis/authentication.k8s.io/{version}/selfsubjectreviews", 404)
        for version in ("v1", "v1beta1", "v1alpha1")
    ]
    assert manifest["cluster"]["kube_system_uid"] == KUBE_SYSTEM_UID


def test_an_older_server_answers_through_v1beta1(server: KubeApiServer, kubeconfig: Path) -> None:
    server.self_subject_review_versions = ("v1beta1",)  # Kubernetes 1.27
    cluster, identity = live_identity(load_target(str(kubeconfig), None), Collection(), None)
    assert (identity.username, identity.via) == (DEFAULT_USER, "authentication.k8s.io/v1beta1")
    assert cluster.server_version == "v1.31.4"
    assert [r.status for r in server.requests if "selfsubjectreviews" in r.path] == [404, 201]


def test_a_forbidden_review_is_recorded_with_rbac_words(server: KubeApiServer, kubeconfig: Path) -> None:
    server.inject("selfsubjectreviews", 403)
    cluster, identity = live_identity(load_target(str(kubeconfig), None), Collection(), None)
    assert identity.username == "unknown"
    assert identity.reason is not None
    assert 'cannot create resource "selfsubjectreviews" in API group "authentication.k8s.io"' in identity.reason
    assert cluster.kube_system_uid == KUBE_SYSTEM_UID  # the other lookups still happen


def test_the_collected_namespaces_list_gives_the_uid_without_another_request(
    server: KubeApiServer, kubeconfig: Path
) -> None:
    namespaces = json.loads((DEMO / "kubernetes" / "namespaces.json").read_text())["items"]
    state = ClusterState(Provenance("live", server.url, datetime.now(UTC), server_version="v9"))
    state.lists["namespaces"] = namespaces
    cluster, _ = live_identity(load_target(str(kubeconfig), None), Collection(), state)
    assert (cluster.kube_system_uid, cluster.server_version) == (KUBE_SYSTEM_UID, "v9")
    assert [r.path for r in server.requests] == [REVIEW_V1]


def test_an_unreachable_api_server_is_recorded_not_raised(tmp_path: Path) -> None:
    api = KubeApiServer.from_snapshot(DEMO, token=TOKEN)
    api.start()
    config = api.write_kubeconfig(tmp_path / "kubeconfig")
    api.stop()
    quick = Collection.model_validate({"connect_timeout": "1s", "read_timeout": "1s", "retries": 0})
    cluster, identity = live_identity(load_target(str(config), None), quick, None)
    assert identity.username == "unknown"
    assert identity.reason is not None
    assert "cannot reach the API server" in identity.reason
    assert cluster.kube_system_uid is None
    assert "cannot reach" in cluster.unknown["kube_system_uid"]


def test_credentials_in_a_server_url_are_not_recorded(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    url = "https://admin:hunter2@127.0.0.1:9/?token=abc"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "users": [{"name": "c", "user": {"token": TOKEN}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "c"}}],
                "current-context": "c",
            }
        )
    )
    quick = Collection.model_validate({"connect_timeout": "1s", "read_timeout": "1s", "retries": 0})
    cluster, identity = live_identity(load_target(str(config), None), quick, None)
    recorded = json.dumps([cluster.as_dict(), identity.as_dict()])
    assert cluster.server == "https://127.0.0.1:9/"
    for secret in ("hunter2", "token=abc", TOKEN):
        assert secret not in recorded


# -- snapshot identity and git, directly ---------------------------------------------------------------------


def test_snapshot_identity_reads_meta_and_namespaces_from_the_snapshot(demo: Snapshot, tmp_path: Path) -> None:
    cluster, identity = snapshot_identity(DEMO, None)
    assert (cluster.server, cluster.kube_system_uid, cluster.server_version) == (
        "https://10.0.0.1:6443",
        KUBE_SYSTEM_UID,
        "v1.31.4",
    )
    assert identity.as_dict() == {"username": "snapshot", "snapshot": str(DEMO)}
    del demo.files["meta.json"]
    bare = demo.write(tmp_path / "bare")
    cluster, _ = snapshot_identity(bare, None)
    assert (cluster.server, cluster.server_version) == (None, None)
    assert set(cluster.unknown) == {"server", "server_version"}
    assert cluster.kube_system_uid == KUBE_SYSTEM_UID


def test_git_revision_is_absent_outside_a_checkout(tmp_path: Path) -> None:
    assert git_revision(tmp_path) is None


def test_verify_names_derived_directories_and_still_catches_what_else_was_added(run_copy: Path) -> None:
    # `allure generate ... -o <run>/allure-report`, as the README says: derived from the run, listed as such.
    (run_copy / "allure-report" / "data").mkdir(parents=True)
    (run_copy / "allure-report" / "index.html").write_text("<html></html>")
    (run_copy / "allure-report" / "data" / "a.json").write_text("{}")
    done = verify(run_copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "derived: allure-report/ (2 files made from the run afterwards, not part of what it sealed)" in done.stdout
    # Anything else added still fails, and a derived directory the manifest does not name is not ignored.
    (run_copy / "allure-reports").mkdir()
    (run_copy / "allure-reports" / "index.html").write_text("<html></html>")
    done = verify(run_copy)
    assert done.returncode == 1
    assert "added: allure-reports/index.html" in done.stdout
