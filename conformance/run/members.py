"""Which clusters a run judges: from --fleet, or one per --profile with its snapshot or kubeconfig, each resolved
into complete settings (profile loaded, source checked, run directory chosen) before anything runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conformance.cluster.kubeconfig import KubeconfigError, NoKubeconfig, Target, load_target
from conformance.errors import BadInput, ProfileError
from conformance.profile.fleet import FleetError, MemberSpec, load_fleet
from conformance.profile.loader import LoadedProfile, load_profile
from conformance.run.options import SOURCES, flag
from conformance.run.settings import Fleet, RunSettings


def profiles_dir(config: pytest.Config) -> Path:
    """Named profiles: --profiles-dir, else the ini value (profiles/) relative to the invocation directory's
    rootdir; a checkout's profiles/ when run from it, any ./profiles when the plugin is installed."""
    given: str | None = config.getoption("profiles_dir", None)
    if given:
        return Path(config.invocation_params.dir, given)
    return Path(config.rootpath) / str(config.getini("conformance_profiles"))


def reports_root(config: pytest.Config) -> Path:
    given: str | None = config.getoption("reports", None)
    return (
        Path(config.invocation_params.dir, given)
        if given
        else Path(config.rootpath) / str(config.getini("conformance_reports"))
    )


def member_specs(config: pytest.Config) -> tuple[list[MemberSpec], Path | None, str | None]:
    """The clusters this run judges: from --fleet, or one per --profile with its snapshot or kubeconfig."""
    refs: list[str] = config.getoption("profile") or []
    fleet_file: str | None = config.getoption("fleet")
    given = {dest: list(config.getoption(dest) or []) for dest in SOURCES}
    if fleet_file is not None:
        clash = [flag(dest) for dest, values in given.items() if values] + (["--profile"] if refs else [])
        if clash:
            raise BadInput(f"--fleet names each cluster's profile and source; it cannot be combined with {clash[0]}")
        path = Path(config.invocation_params.dir, fleet_file)
        try:
            fleet, specs = load_fleet(path)
        except FleetError as exc:
            raise BadInput(str(exc)) from None
        return specs, path, fleet.metadata.name
    for dest, values in given.items():
        if len(values) > 1 and len(values) != len(refs):
            raise BadInput(
                f"{flag(dest)} is given {len(values)} times for {len(refs)} profiles: "
                "give it once (for every profile) or once per profile, in the same order"
            )

    def nth(dest: str, index: int) -> str | None:
        values = given[dest]
        return values[index] if len(values) > 1 else (values[0] if values else None)

    specs = [
        MemberSpec("", ref, nth("snapshot", i), nth("kube_context", i), nth("kubeconfig", i))
        for i, ref in enumerate(refs)
    ]
    return specs, None, None


@dataclass(frozen=True)
class _Resolved:
    name: str
    profile: LoadedProfile
    snapshot: Path | None
    target: Target | None


def _resolve(config: pytest.Config, spec: MemberSpec) -> _Resolved:
    where = f"fleet cluster {spec.name}: " if spec.name else ""
    try:
        loaded = load_profile(spec.profile, profiles_dir(config))
    except ProfileError as exc:
        raise BadInput(f"{where}{exc}") from None
    if spec.snapshot is None:
        try:
            return _Resolved(spec.name, loaded, None, load_target(spec.kubeconfig, spec.context))
        except NoKubeconfig as exc:
            raise BadInput(f"{where}{exc} (give --kubeconfig=PATH, or --snapshot=DIR for captured state)") from None
        except KubeconfigError as exc:
            raise BadInput(f"{where}{exc}") from None
    if spec.context or spec.kubeconfig:
        raise BadInput("--snapshot reads captured state; it cannot be combined with --kube-context or --kubeconfig")
    snapshot = Path(config.invocation_params.dir, spec.snapshot)
    if not snapshot.is_dir():
        raise BadInput(f"{where}--snapshot: no such directory: {spec.snapshot}")
    if not (snapshot / "kubernetes").is_dir():
        raise BadInput(f"{where}--snapshot: {spec.snapshot} has no kubernetes/ directory (see README: snapshot format)")
    return _Resolved(spec.name, loaded, snapshot, None)


def _named(resolved: list[_Resolved], from_file: bool) -> list[_Resolved]:
    """Several --profile: each cluster is named after its profile, and the names must differ."""
    if from_file or len(resolved) < 2:
        return resolved
    names = [r.profile.name for r in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BadInput(
            f"--profile: several clusters would be named {repeated[0]}; a fleet file (--fleet) names each cluster"
        )
    return [dataclasses.replace(r, name=r.profile.name) for r in resolved]


def new_run_dir(root: Path, name: str, now: datetime | None = None) -> Path:
    """reports/<UTC time>-<name>, not yet taken (a second run in the same second gets -2, -3, ...); the run makes
    it once every option and input has been found good, so bad input leaves no directory behind."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    run_dir = root / f"{stamp}-{name}"
    counter = 1
    while run_dir.exists():
        counter += 1
        run_dir = root / f"{stamp}-{name}-{counter}"
    return run_dir


def with_budget(loaded: LoadedProfile, budget: timedelta | None) -> LoadedProfile:
    """The profile as this run collects with it: --budget replaces collection.budget."""
    if budget is None:
        return loaded
    profile = loaded.profile
    collection = profile.collection.model_copy(update={"budget": budget})
    return dataclasses.replace(loaded, profile=profile.model_copy(update={"collection": collection}))


def with_windows(loaded: LoadedProfile, settle: timedelta | None, hold: timedelta | None) -> LoadedProfile:
    """The profile with the settle and hold windows this run applies (None where they do not apply), which is
    what the stability check expands from."""
    profile = loaded.profile
    collection = profile.collection.model_copy(update={"settle": settle, "hold": hold})
    return dataclasses.replace(loaded, profile=profile.model_copy(update={"collection": collection}))


def resolve_fleet(config: pytest.Config, run_dir: Path | None, budget: timedelta | None) -> Fleet:
    """Every cluster of the run, complete: profiles loaded, sources checked, the run directory chosen (on an
    xdist worker, the controller's), --budget applied."""
    specs, fleet_file, fleet_name = member_specs(config)
    resolved = _named([_resolve(config, spec) for spec in specs], fleet_file is not None)
    name = fleet_name or "+".join(r.profile.name for r in resolved)
    root = reports_root(config)
    directory = run_dir if run_dir is not None else new_run_dir(root, name)
    members = tuple(
        RunSettings(with_budget(r.profile, budget), r.snapshot, r.target, directory, root, member=r.name)
        for r in resolved
    )
    return Fleet(name, members, fleet_file)
