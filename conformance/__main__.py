"""Command line companions of the pytest suite: profile validation, schema, snapshot capture.

python -m conformance validate prod            # check a profile, list every problem
python -m conformance schema > profiles/schema.json
python -m conformance checks > docs/checks.md   # the catalogue of checks
python -m conformance baseline --snapshot=DIR --out=observed.yaml [--profile=prod]   # a profile from a good day
python -m conformance capture --out DIR [--kubeconfig PATH] [--kube-context NAME] [--profile NAME]
python -m conformance verify reports/latest    # re-hash a run directory against its manifest.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance import __version__, secrets
from conformance.cluster.evidence import write_evidence
from conformance.cluster.kubeconfig import KubeconfigError, NoKubeconfig, load_target
from conformance.cluster.live import LiveState, NotServed, collect_live
from conformance.cluster.resources import KNOWN
from conformance.errors import ProfileError
from conformance.gate import BAD_INPUT, NOT_EVALUATED
from conformance.profile.loader import load_profile
from conformance.profile.model import Profile
from conformance.profile.schema import render_schema
from conformance.services.source import ServiceSource


def _capture_profile() -> Profile:
    return Profile.model_validate(
        {"apiVersion": "conformance/v1alpha1", "kind": "Profile", "metadata": {"name": "capture"}}
    )


def service_sources(profile: Profile) -> list[ServiceSource]:
    """The service sources a profile configures (for capture: every service section present)."""
    from conformance.services.registry import sources_for

    return sources_for(profile)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate a profile (name or path)")
    validate.add_argument("profile")
    validate.add_argument("--profiles", default="profiles", help="directory of named profiles")
    commands.add_parser("schema", help="print the profile JSON Schema")
    commands.add_parser("checks", help="print the catalogue of checks (docs/checks.md)")
    baseline = commands.add_parser("baseline", help="make a profile from a known-good cluster (every value observed)")
    baseline.add_argument("--snapshot", help="a captured state (snapshot directory) instead of a live cluster")
    baseline.add_argument("--kubeconfig")
    baseline.add_argument("--kube-context")
    baseline.add_argument("--name", default="baseline", help="the profile's metadata.name (default: baseline)")
    baseline.add_argument("--out", type=Path, help="where to write the profile (default: standard output)")
    baseline.add_argument(
        "--profile", help="also observe the services this profile configures (it says how to reach them)"
    )
    baseline.add_argument("--profiles", default="profiles", help="directory of named profiles")
    capture = commands.add_parser("capture", help="capture a live cluster into a snapshot directory")
    capture.add_argument("--out", required=True, type=Path)
    capture.add_argument("--kubeconfig")
    capture.add_argument("--kube-context")
    capture.add_argument("--profile", help="also capture the services this profile reaches")
    verify = commands.add_parser("verify", help="check a run directory's files against its manifest.json")
    verify.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. reports/latest")
    rbac = commands.add_parser("rbac", help="print the RBAC manifests a live run of a profile needs (least privilege)")
    rbac.add_argument("profile")
    rbac.add_argument("--profiles", default="profiles", help="directory of named profiles")
    rbac.add_argument("--namespace", default="conformance", help="namespace of the suite's ServiceAccount")
    rbac.add_argument("--service-account", default="conformance", help="the ServiceAccount the suite runs as")
    args = parser.parse_args(argv)

    if args.command == "schema":
        sys.stdout.write(render_schema())
        return 0
    if args.command == "baseline":
        from conformance.baseline_command import baseline_command  # deferred: imports every check module

        return baseline_command(
            args.snapshot, args.kubeconfig, args.kube_context, args.name, args.out, args.profile, Path(args.profiles)
        )
    if args.command == "checks":
        from conformance.registry import catalogue  # deferred: imports every check module

        sys.stdout.write(catalogue())
        return 0
    if args.command == "verify":
        from conformance.integrity import verify_command  # deferred: the other commands need no pytest

        return verify_command(args.run_dir)
    if args.command == "rbac":
        from conformance.rbac import permissions, render  # deferred: imports every check module

        try:
            loaded = load_profile(args.profile, Path(args.profiles))
        except ProfileError as exc:
            print(exc, file=sys.stderr)
            return 3
        sys.stdout.write(render(permissions(loaded.profile), args.profile, args.namespace, args.service_account))
        return 0
    if args.command == "validate":
        try:
            loaded = load_profile(args.profile, Path(args.profiles))
        except ProfileError as exc:
            print(exc, file=sys.stderr)
            return 3
        print(f"profile {loaded.name} ({loaded.path}) is valid; sha256 {loaded.sha256}")
        return 0
    return capture_cluster(args.out, args.kubeconfig, args.kube_context, args.profile)


def capture_cluster(out: Path, kubeconfig: str | None, context: str | None, profile_ref: str | None) -> int:
    """Capture a live cluster into a snapshot directory: 0 when everything it reads was read, 2 when the cluster
    could not be read at all (nothing is written) or only in part (what could not be read is named), 3 on bad input."""
    try:
        target = load_target(kubeconfig, context)
    except NoKubeconfig as exc:
        print(f"error: {secrets.redact_text(str(exc))} (give --kubeconfig=PATH)", file=sys.stderr)
        return BAD_INPUT
    except KubeconfigError as exc:
        print(f"error: {secrets.redact_text(str(exc))}", file=sys.stderr)
        return BAD_INPUT
    try:
        profile = load_profile(profile_ref, Path("profiles")).profile if profile_ref else None
    except ProfileError as exc:
        print(exc, file=sys.stderr)
        return BAD_INPUT
    # A snapshot is for any profile to judge later: whole objects, whatever this profile's evidence setting.
    chosen = profile or _capture_profile()
    chosen = chosen.model_copy(update={"collection": chosen.collection.model_copy(update={"evidence": "whole"})})
    state = collect_live(
        target,
        chosen,
        KNOWN.values(),
        service_sources(profile) if profile else (),
        progress=lambda line: print(line, file=sys.stderr),
    )
    unreachable = state.collection.unreachable if isinstance(state, LiveState) and state.collection else None
    errors = {**state.errors, **state.service_errors}
    if not (state.lists or state.documents):
        why = unreachable or "; ".join(f"{name}: {e.reason}" for name, e in sorted(errors.items()))
        print(f"error: nothing captured: {secrets.redact_text(why or 'nothing to read')}", file=sys.stderr)
        return NOT_EVALUATED
    files = write_evidence(state, out)
    failed = sorted(name for name, error in errors.items() if not isinstance(error, NotServed))
    if unreachable is not None:
        # Every resource failed for the one reason: said once (services reached directly were still read).
        print(f"error: no Kubernetes resource captured: {secrets.redact_text(unreachable)}", file=sys.stderr)
    for name, error in sorted(errors.items()):
        if isinstance(error, NotServed):
            print(f"note: {name}: {secrets.redact_text(error.reason)}", file=sys.stderr)
        elif unreachable is None or name in state.service_errors:
            print(f"error: not captured: {name} ({secrets.redact_text(error.reason)})", file=sys.stderr)
    print(f"wrote {len(files)} files to {out}")
    if failed:
        noun = "resource" if len(failed) == 1 else "resources"
        print(
            f"error: captured only part of the cluster: {len(failed)} {noun} could not be read ({', '.join(failed)})",
            file=sys.stderr,
        )
        return NOT_EVALUATED
    return 0


if __name__ == "__main__":
    sys.exit(main())
