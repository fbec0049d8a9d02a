"""The container image and how it is deployed: Dockerfile, pinned requirements, the nightly CronJob, CI examples.

No Docker engine is needed: the image's contents are rebuilt in a clean virtualenv from exactly what the
Dockerfile installs and copies, and the demo runs from that copy as the image's entrypoint runs it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
REQUIREMENTS = ROOT / "deploy" / "requirements.txt"
CRONJOB = ROOT / "deploy" / "cronjob.yaml"
PIP_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cluster-conformance" / "pip"
INSTALL_TIMEOUT = 600


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    parsed = []
    for line in joined:
        op, _, args = line.partition(" ")
        parsed.append((op.upper(), args.strip()))
    return parsed


DOCKER = instructions(DOCKERFILE.read_text())


def only(op: str) -> list[str]:
    return [args for name, args in DOCKER if name == op]


def workdir() -> str:
    (path,) = only("WORKDIR")
    return path


def copies() -> Iterator[tuple[list[str], str]]:
    """(sources, destination) of each COPY, the destination resolved against WORKDIR as it stood."""
    current = "/"
    for op, args in DOCKER:
        if op == "WORKDIR":
            current = args
        elif op == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            *sources, dest = words
            yield sources, dest if dest.startswith("/") else f"{current.rstrip('/')}/{dest}"


def ignored(relative: str, patterns: list[str]) -> bool:
    """.dockerignore: a path is excluded when it or a parent matches a pattern (`**/x` matches x at any depth)."""
    parts = relative.split("/")
    for prefix in ("/".join(parts[: i + 1]) for i in range(len(parts))):
        for pattern in patterns:
            anywhere = pattern.startswith("**/") and fnmatch.fnmatch(prefix.rsplit("/", 1)[-1], pattern[3:])
            if anywhere or fnmatch.fnmatch(prefix, pattern):
                return True
    return False


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def build_tree(into: Path) -> Path:
    """The image's WORKDIR as the Dockerfile's COPY lines make it (files copied elsewhere are not part of it)."""
    root = workdir().rstrip("/")
    patterns = dockerignore()
    for sources, dest in copies():
        if not dest.startswith(root + "/"):
            continue
        target = into / dest.removeprefix(root + "/")
        for source in sources:
            path = ROOT / source
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                if ignored(relative, patterns):
                    continue
                placed = (
                    target / file.relative_to(path)
                    if path.is_dir()
                    else (target / file.name if dest.endswith("/") else target)
                )
                placed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, placed)
    return into


def entrypoint_script() -> str:
    (entry,) = only("ENTRYPOINT")
    shell, flag, script, name = json.loads(entry)
    assert (shell, flag, name) == ("/bin/sh", "-c", "conformance")
    return str(script)


# -- Dockerfile -------------------------------------------------------------------------------------------


def test_dockerfile_pins_its_base_and_runs_unprivileged() -> None:
    (base,) = only("FROM")
    name, _, digest = base.partition("@")
    image, _, tag = name.partition(":")
    assert image in ("python", "docker.io/library/python")
    exact = re.fullmatch(r"3\.11\.\d+-slim(-[a-z]+)?", tag) is not None
    assert exact or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"FROM {base}: pin an exact tag or a digest"
    users = only("USER")
    assert users, "the image must not run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "a numeric uid lets runAsNonRoot verify it"
    assert int(user) >= 1000
    assert workdir() == "/suite"
    script = entrypoint_script()
    assert script.startswith("exec pytest ")
    assert '--profile="${PROFILE:-prod}"' in script
    assert "--reports=/reports" in script
    assert '"$@"' in script  # extra arguments reach pytest
    installs = [r for r in only("RUN") if "pip install" in r]
    assert any("--no-deps -r /tmp/requirements.txt" in r and "pip check" in r for r in installs)
    assert any("--no-deps ." in r for r in installs)
    copied = {source for sources, _ in copies() for source in sources}
    assert {
        "deploy/requirements.txt",
        "conformance/",
        "fixtures/",
        "profiles/",
        "conftest.py",
        "pyproject.toml",
    } <= copied
    assert not any(source.startswith(("tests", ".git", "reports")) for source in copied)


def test_requirements_pin_exactly_what_the_project_depends_on() -> None:
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)", line.strip())
        assert match, f"not an exact pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{name} pinned twice"
        pins[name] = match.group(2)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert canonicalize_name(project["name"]) not in pins
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is a dependency but not pinned in deploy/requirements.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} {requirement}"
    assert not {"ruff", "mypy", "types-pyyaml"} & set(pins), "the dev extra does not belong in the image"


@pytest.mark.slow
def test_the_image_contents_run_the_demo(tmp_path: Path) -> None:
    """A clean virtualenv with deploy/requirements.txt and the project, the files the Dockerfile copies, the
    entrypoint's own command line: the demo passes, and nothing is written outside the reports directory."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--cache-dir", str(PIP_CACHE)]
    installed = subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "-r", str(REQUIREMENTS)],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    complete = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=120)
    assert complete.returncode == 0, f"deploy/requirements.txt is not a complete set: {complete.stdout}"
    suite = build_tree(tmp_path / "suite")
    installed = subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "."],
        cwd=suite,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    for leftover in ("build", "cluster_conformance.egg-info"):  # as the Dockerfile's RUN removes them
        shutil.rmtree(suite / leftover, ignore_errors=True)
    before = sorted(str(p.relative_to(suite)) for p in suite.rglob("*"))
    assert not any("tests" in p.split("/")[0] for p in before)

    reports = tmp_path / "reports"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    script = entrypoint_script().replace("/reports", str(reports))
    run = subprocess.run(
        ["/bin/sh", "-c", script, "conformance", "--snapshot=snapshots/254carbon"],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "conformance prod: PASSED" in run.stdout
    (run_dir,) = [p for p in reports.iterdir() if p.is_dir() and not p.is_symlink()]
    for artifact in ("report.html", "junit.xml", "manifest.json", "evidence"):
        assert (run_dir / artifact).exists(), artifact
    # A read-only root filesystem holds: the run wrote nothing beside the reports (and /tmp).
    assert sorted(str(p.relative_to(suite)) for p in suite.rglob("*")) == before
    # The project's own command works from the image too.
    version = subprocess.run(
        [str(venv / "bin" / "conformance"), "--version"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.returncode == 0, version.stderr

    # The installed package is a pytest plugin (entry point pytest11): from any directory, with a profile and a
    # snapshot by path, the demo gives the checkout's counts.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    anywhere = subprocess.run(
        [
            str(venv / "bin" / "pytest"),
            f"--profile={ROOT / 'profiles' / 'prod.yaml'}",
            f"--snapshot={ROOT / 'snapshots' / '254carbon'}",
            f"--reports={tmp_path / 'reports-elsewhere'}",
            "-p",
            "no:cacheprovider",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert anywhere.returncode == 0, anywhere.stdout[-3000:] + anywhere.stderr[-3000:]
    demo_line = next(line for line in run.stdout.splitlines() if line.startswith("conformance prod: "))
    line = next(line for line in anywhere.stdout.splitlines() if line.startswith("conformance prod: "))
    assert line.split(" — ")[:2] == demo_line.split(" — ")[:2]  # verdict and counts; the report paths differ
    assert list(elsewhere.iterdir()) == []


# -- the nightly CronJob -----------------------------------------------------------------------------------


def typed(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the official client's models read it back: a field they do not know is dropped."""
    from kubernetes import client

    api = client.ApiClient()
    model = api.deserialize(json.dumps(document), f"V1{document['kind']}", "application/json")
    result: dict[str, Any] = api.sanitize_for_serialization(model)
    return result


def deploy_documents() -> list[dict[str, Any]]:
    documents = []
    for path in (ROOT / "deploy" / "rbac.yaml", CRONJOB):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return documents


def test_deploy_manifests_are_valid_kubernetes_objects() -> None:
    documents = deploy_documents()
    for document in documents:
        assert typed(document) == document, (
            f"{document['kind']} {document['metadata']['name']}: unknown or mistyped fields"
        )
    kinds = {d["kind"] for d in documents}
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolumeClaim",
        "CronJob",
    } <= kinds
    namespaced = [d for d in documents if d["kind"] in ("ServiceAccount", "PersistentVolumeClaim", "CronJob")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"conformance"}


def test_cronjob_runs_nightly_unprivileged_and_alone() -> None:
    (cronjob,) = [d for d in yaml.safe_load_all(CRONJOB.read_text()) if d["kind"] == "CronJob"]
    spec = cronjob["spec"]
    assert re.fullmatch(r"\d+ \d+ \* \* \*", spec["schedule"]), "nightly"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # a failed gate is a verdict, not something to retry
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == "conformance"
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    uid = int(only("USER")[-1].split(":")[0])
    assert pod["securityContext"]["runAsUser"] == uid  # the image's user
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) <= set(container["resources"]["limits"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts) == {"/reports", "/tmp"}  # the only writable paths
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts["/reports"]]["persistentVolumeClaim"]["claimName"]
    assert claim in {
        d["metadata"]["name"] for d in yaml.safe_load_all(CRONJOB.read_text()) if d["kind"] == "PersistentVolumeClaim"
    }
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert {"name": "PROFILE", "value": "prod"} in container["env"]
    # The ServiceAccount keeps tokens out of pods by default; this pod opts in.
    (account,) = [d for d in deploy_documents() if d["kind"] == "ServiceAccount"]
    assert account["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is True


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_accepts_the_deploy_directory(tmp_path: Path) -> None:
    """`kubectl apply --dry-run=client` maps every kind through discovery, so it is given an API server (the
    test server) that serves the kinds deploy/ uses; nothing is created."""
    from kubeapi import KubeApiServer

    api = KubeApiServer(
        {
            "serviceaccounts": [],
            "persistentvolumeclaims": [],
            "cronjobs.batch": [],
            "clusterroles.rbac.authorization.k8s.io": [],
            "clusterrolebindings.rbac.authorization.k8s.io": [],
            "roles.rbac.authorization.k8s.io": [],
            "rolebindings.rbac.authorization.k8s.io": [],
        }
    )
    with api:
        config = api.write_kubeconfig(tmp_path / "kubeconfig")
        result = subprocess.run(
            [
                "kubectl",
                f"--kubeconfig={config}",
                "apply",
                "--dry-run=client",
                "-f",
                str(ROOT / "deploy"),
                "--validate=false",
                "-o",
                "yaml",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        writes = [r for r in api.requests if r.method != "GET"]
    assert result.returncode == 0, result.stderr
    applied = yaml.safe_load(result.stdout)
    items = applied["items"] if applied.get("kind") == "List" else [applied]
    assert sorted((i["kind"], i["metadata"]["name"]) for i in items) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in deploy_documents()
    )
    assert writes == []


# -- CI examples -------------------------------------------------------------------------------------------

GATE = "pytest --profile=prod --settle=5m --gate=critical"


def test_github_actions_gate_runs_after_the_deploy_and_always_keeps_the_reports() -> None:
    workflow = yaml.safe_load((ROOT / "deploy" / "ci" / "github-actions.yml").read_text())
    assert workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    jobs = workflow["jobs"]
    deployer = next(name for name, job in jobs.items() if any("helm upgrade" in s.get("run", "") for s in job["steps"]))
    gate = next(name for name, job in jobs.items() if any(GATE in s.get("run", "") for s in job["steps"]))
    assert jobs[gate]["needs"] in (deployer, [deployer])
    steps = jobs[gate]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert uses[0].startswith("actions/checkout@")
    runs = [s.get("run", "") for s in steps]
    install = next(i for i, r in enumerate(runs) if "pip install" in r)
    assert "-r deploy/requirements.txt" in runs[install]
    test = next(i for i, r in enumerate(runs) if GATE in r)
    upload = next(i for i, u in enumerate(uses) if u.startswith("actions/upload-artifact@"))
    assert install < test < upload
    assert steps[upload]["if"] == "always()"
    assert "reports/" in steps[upload]["with"]["path"]
    assert jobs[gate]["timeout-minutes"] > 5  # the settle time fits


def test_gitlab_ci_gate_runs_after_the_deploy_and_always_keeps_the_reports() -> None:
    pipeline = yaml.safe_load((ROOT / "deploy" / "ci" / "gitlab-ci.yml").read_text())
    stages = pipeline["stages"]
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}
    deployer = next(name for name, job in jobs.items() if any("helm upgrade" in line for line in job["script"]))
    gate = next(name for name, job in jobs.items() if any(GATE in line for line in job["script"]))
    assert stages.index(jobs[deployer]["stage"]) < stages.index(jobs[gate]["stage"])
    assert deployer in jobs[gate]["needs"]
    script = jobs[gate]["script"]
    assert any("-r deploy/requirements.txt" in line for line in script)
    artifacts = jobs[gate]["artifacts"]
    assert artifacts["when"] == "always"
    assert "reports/" in artifacts["paths"]
    assert artifacts["reports"]["junit"].endswith("junit.xml")
