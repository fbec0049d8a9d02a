"""The suite's own checkout: which commit ran, and whether it was modified (recorded in every manifest)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

GIT_TIMEOUT_SECONDS = 5.0


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_revision(root: Path) -> dict[str, Any] | None:
    """{"commit", "dirty"} of the checkout at root; None when it is not one or git is missing."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None or not commit.strip():
        return None
    revision: dict[str, Any] = {"commit": commit.strip()}
    status = _git(root, "status", "--porcelain")
    if status is None:
        revision["dirty"] = None  # unknown: status timed out or failed
    else:
        revision["dirty"] = bool(status.strip())
    return revision
