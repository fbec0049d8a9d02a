"""The package's structure, kept: layers that point down, no import cycle, no module state, one run object.

`lint-imports` (import-linter, configured in pyproject.toml) enforces the layers and acyclicity; CI runs it too.
The rest is read from the source with `ast`.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import registry
from conformance.check import spec_of

from conftest import ROOT

PACKAGE = ROOT / "conformance"


def modules() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_import_contracts_hold() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if command is None:
        pytest.skip("import-linter is not installed: pip install -e '.[dev]'")
    done = subprocess.run([command], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_module_keeps_state_in_globals() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: global {', '.join(node.names)}"
        for path, tree in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Global)
    ]
    assert found == []


def _implementers(hook: str) -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for path, tree in modules().items()
        if any(isinstance(node, ast.FunctionDef) and node.name == hook for node in ast.walk(tree))
    )


def test_the_session_ends_in_at_most_two_modules() -> None:
    # The run concludes (one verdict, published once); the redaction layer cleans what pytest-html renders.
    assert _implementers("pytest_sessionfinish") == ["conformance/run/secrecy.py", "conformance/run/session.py"]


def test_the_registry_lists_every_check_module() -> None:
    declared = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path, tree in modules().items()
        if path.name.startswith("test_")
        and any(isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" for node in ast.walk(tree))
    }
    assert set(registry.CHECK_MODULES) == declared
    checks = registry.checks()
    assert len(checks) == len({(c.module, c.name) for c in checks})
    assert all(spec_of(getattr(__import__(c.module, fromlist=[c.name]), c.name)) is c.spec for c in checks)
    assert all(c.spec.name == c.name for c in checks)


def test_the_catalogue_of_checks_is_current() -> None:
    documented = (ROOT / "docs" / "checks.md").read_text()
    assert documented == registry.catalogue(), "regenerate: python -m conformance checks > docs/checks.md"
    assert all(f"`{c.name}`" in documented for c in registry.checks())


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in quickstart.split("```")[1].strip().splitlines()]
    assert commands == ["scripts/dev demo", "scripts/dev test"]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == f"exec {commands[1]}"
    script = (ROOT / "scripts" / "dev").read_text()
    # What the tests run against is installed by the command itself, not assumed to be there.
    for package in ("prometheus", "prometheus-node-exporter", "chromium", "allure@3.18.0"):
        assert package in script, package
    assert 'exec pytest tests -n "$workers" "$@"' in script
