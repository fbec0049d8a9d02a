"""What the terminal says of a run, also under -q: checks not configured by the profile (never "deselected"),
and how settling went."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEMO, Snapshot, run_suite
from kubeapi import KubeApiServer
from test_settle import after_first_pod_list, live, serve_rolling_out


def test_checks_the_profile_does_not_configure_are_named(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}", "-q")
    out = run.result.stdout.str()
    assert run.result.ret == 0, out
    # prod configures no Kafka canary and no hold window: those checks are no part of the run, not deselected.
    assert not [line for line in out.splitlines() if " deselected" in line]
    run.result.stdout.fnmatch_lines(
        ["conformance: 2 checks not configured by this profile: test_kafka_canary, test_stable_during_hold"]
    )


def test_a_deselected_check_is_still_called_deselected(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester, f"--snapshot={DEMO}", "-q", "-k", "not test_kong_admin_api")
    run.result.stdout.fnmatch_lines(["*1 deselected*"])


def test_settling_is_reported_in_the_terminal_under_quiet(
    server: KubeApiServer, kubeconfig: Path, pytester: pytest.Pytester, demo: Snapshot
) -> None:
    ready = serve_rolling_out(server, demo)

    with after_first_pod_list(server, 1.0, ready):
        run = live(pytester, kubeconfig, "--settle=20s", "-q")
    assert run.result.ret == 0, run.result.stdout.str()
    run.result.stdout.fnmatch_lines(["conformance: Settled after *s (20s allowed); * collections"])
