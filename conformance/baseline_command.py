"""`python -m conformance baseline`: a known-good cluster, live or captured, written as a profile."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from conformance import baseline, secrets
from conformance.cluster.live import KubeconfigError, collect_live, load_target
from conformance.cluster.snapshot import SnapshotError, read_snapshot
from conformance.cluster.state import ClusterState
from conformance.errors import ProfileError
from conformance.profile.loader import load_profile
from conformance.profile.model import API_VERSION, Profile
from conformance.services.registry import sources_for


def baseline_command(
    snapshot: str | None,
    kubeconfig: str | None,
    context: str | None,
    name: str,
    out: Path | None,
    profile_ref: str | None = None,
    profiles: Path = Path("profiles"),
) -> int:
    resources = baseline.baseline_reads()
    given: Profile | None = None
    if profile_ref is not None:
        try:
            given = load_profile(profile_ref, profiles).profile
        except ProfileError as exc:
            print(exc, file=sys.stderr)
            return 3
    sources = sources_for(given) if given is not None else []
    state: ClusterState
    if snapshot is not None:
        if kubeconfig or context:
            print(
                "error: --snapshot reads captured state; give it without --kubeconfig or --kube-context",
                file=sys.stderr,
            )
            return 3
        try:
            present = [r for r in resources if _in_snapshot(Path(snapshot), r.name)]
            state = read_snapshot(Path(snapshot), present, sources)
        except SnapshotError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
    else:
        try:
            target = load_target(kubeconfig, context)
        except KubeconfigError as exc:
            print(f"error: {secrets.redact_text(str(exc))}", file=sys.stderr)
            return 3
        settings = given or Profile.model_validate(
            {"apiVersion": API_VERSION, "kind": "Profile", "metadata": {"name": name}}
        )
        state = collect_live(target, settings, resources, sources, progress=lambda line: print(line, file=sys.stderr))
        if state.errors and len(state.errors) == len(resources):
            print("error: nothing observed: " + "; ".join(str(e) for e in state.errors.values()), file=sys.stderr)
            return 2
    made = baseline.build(state, name, given)
    text = secrets.redact_text(made.yaml())
    with tempfile.TemporaryDirectory(prefix="conformance-baseline-") as scratch:
        written = Path(scratch) / f"{name}.yaml"
        written.write_text(text, encoding="utf-8")
        try:
            load_profile(str(written), Path(scratch))
        except ProfileError as exc:  # a bug of the baseline itself: say so rather than write a profile nobody loads
            print(f"error: the baseline does not validate as a profile:\n{exc}", file=sys.stderr)
            return 3
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}: profile {name}, {len(made.left_out)} entries left out", file=sys.stderr)
    for line in made.left_out:
        print(f"left out: {line}", file=sys.stderr)
    return 0


def _in_snapshot(directory: Path, resource: str) -> bool:
    from conformance.cluster.resources import resource as named

    return (directory / named(resource).snapshot_file).is_file()
