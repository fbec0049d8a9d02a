"""Headless Chromium for the suite's own tests: render a report to a screenshot or a dumped DOM."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
MISSING = f"{CHROMIUM} is not installed (Debian package chromium, which .ci/run installs)"
# Without the background-networking flags Chromium keeps dialling out; this machine has no network.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def run_chromium(args: list[str], profile_dir: Path, timeout: float = 60) -> bytes:
    """Run headless Chromium with a fresh profile; its stdout. The whole process group dies on timeout."""
    command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile_dir}", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        output, errors = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != 0:
        raise AssertionError(errors.decode(errors="replace")[-2000:])
    return output
