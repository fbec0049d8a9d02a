"""Earlier runs of a profile under the reports root, read back for the report's trend chart.

A run directory is `<UTC stamp>-<profile>` (or `...-<profile>-<n>` when two start in the same second),
as conformance.plugin names it; its counts come from its manifest.json (conformance.integrity) when
that has them, otherwise from junit.xml. The manifest also says where the run's state came from (a
snapshot, or a live cluster): a trend compares like with like, so runs of another kind of source are left
out, and so are runs that do not say (junit.xml alone, or an older manifest).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_STAMP = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)-(?P<rest>.+)")
MANIFEST_MAX_BYTES = 16 * 2**20
JUNIT_MAX_BYTES = 64 * 2**20


@dataclass(frozen=True)
class RunCounts:
    run: str  # the directory name
    stamp: datetime
    passed: int
    failed: int
    error: int
    waived: int = 0

    @property
    def label(self) -> str:
        return self.stamp.strftime("%m-%d %H:%M")


def parse_run_name(name: str, profile: str) -> tuple[datetime, int] | None:
    """(start time, same-second counter) when `name` is a run directory of `profile`, else None."""
    match = _STAMP.fullmatch(name)
    if match is None:
        return None
    rest = match["rest"]
    if rest == profile:
        counter = 1
    elif rest.startswith(profile + "-") and rest[len(profile) + 1 :].isdigit():
        counter = int(rest[len(profile) + 1 :])
    else:
        return None
    try:
        stamp = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return stamp, counter


SOURCE_KINDS = ("snapshot", "live", "mixed")
UNRECORDED = "not recorded"


def _source_of(data: dict[str, object]) -> str:
    """The kind of source a manifest records: `run.source` (Fleet.source_kind), else, as earlier manifests
    say it, `cluster.source` of one cluster or each fleet cluster's `source` label (`snapshot DIR`, `live CTX`)."""
    run, cluster, clusters = data.get("run"), data.get("cluster"), data.get("clusters")
    if isinstance(run, dict) and run.get("source") in SOURCE_KINDS:
        return str(run["source"])
    if isinstance(cluster, dict) and cluster.get("source") in SOURCE_KINDS:
        return str(cluster["source"])
    if isinstance(clusters, dict):
        labels = [c.get("source") if isinstance(c, dict) else None for c in clusters.values()]
        kinds = {label.split(" ", 1)[0] if isinstance(label, str) else "" for label in labels}
        if kinds and kinds <= {"snapshot", "live"}:
            return kinds.pop() if len(kinds) == 1 else "mixed"
    return UNRECORDED


@dataclass(frozen=True)
class _Manifest:
    counts: tuple[int, int, int, int] | None = None
    profile: str | None = None
    source: str = UNRECORDED


def _from_manifest(path: Path) -> _Manifest:
    """Counts, profile name and kind of source from a run's manifest.json, as far as it says.

    conformance.integrity writes `run.outcomes`, `profile.name` and the cluster's source; a bare `counts`
    mapping is read too. Counts it does not give (missing, unreadable, another shape) come from junit.xml.
    """
    try:
        if path.stat().st_size > MANIFEST_MAX_BYTES:
            return _Manifest()
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return _Manifest()
    if not isinstance(data, dict):
        return _Manifest()
    run, profile = data.get("run"), data.get("profile")
    named = profile.get("name") if isinstance(profile, dict) else None
    name = named if isinstance(named, str) else None
    source = _source_of(data)
    counts = run.get("outcomes") if isinstance(run, dict) else data.get("counts")
    if not isinstance(counts, dict) or "passed" not in counts:
        return _Manifest(None, name, source)
    values = [counts.get(k, 0) for k in ("passed", "failed", "error", "waived")]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return _Manifest(None, name, source)
    passed, failed, error, waived = (int(v) for v in values)
    return _Manifest((passed, failed, error, waived), name, source)


def counts_from_junit(path: Path) -> tuple[int, int, int, int]:
    """(passed, failed, error, waived) of a junit.xml; waived checks are pytest xfails (skipped, pytest.xfail).

    Raises OSError or ET.ParseError when the file cannot be read.
    """
    if path.stat().st_size > JUNIT_MAX_BYTES:
        raise OSError(f"{path.name} is larger than {JUNIT_MAX_BYTES} bytes")
    passed = failed = error = waived = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("error") is not None:
            error += 1
        elif case.find("failure") is not None:
            failed += 1
        elif (skipped := case.find("skipped")) is not None:
            waived += skipped.get("type") == "pytest.xfail"
        else:
            passed += 1
    return passed, failed, error, waived


def earlier_runs(
    reports_root: Path, profile: str, current: Path, limit: int, source: str | None = None
) -> tuple[list[RunCounts], list[str]]:
    """The last `limit` runs of `profile` before `current`, oldest first, and a note for each unreadable one.

    With `source` (`snapshot`, `live`, `mixed`), only runs whose manifest records that kind of source count; the
    notes then end with what was left out, by kind."""
    found: list[tuple[datetime, int, Path]] = []
    try:
        entries = list(reports_root.iterdir())
    except OSError:
        return [], []
    # Runs that started after this one (two runs sharing a reports root) are not its history.
    now = parse_run_name(current.name, profile)
    for entry in entries:
        if entry.name == current.name or entry.is_symlink() or not entry.is_dir():
            continue
        parsed = parse_run_name(entry.name, profile)
        if parsed is not None and (now is None or parsed < now):
            found.append((*parsed, entry))
    found.sort(key=lambda f: (f[0], f[1]))
    runs: list[RunCounts] = []
    problems: list[str] = []
    other: Counter[str] = Counter()  # runs of another kind of source, by kind
    # Newest first, so a long history costs only the `limit` files that are shown.
    for stamp, _, directory in reversed(found):
        if len(runs) >= limit:
            break
        manifest = _from_manifest(directory / "manifest.json")
        counts, name = manifest.counts, manifest.profile
        if name is not None and name != profile:
            continue  # `prod-2` is profile prod's second run of a second, or a profile named prod-2
        if source is not None and manifest.source != source:
            if (directory / "manifest.json").exists() or (directory / "junit.xml").exists():
                other[manifest.source] += 1
            continue
        if counts is None:
            junit = directory / "junit.xml"
            if not junit.exists():
                continue  # an interrupted run leaves no verdict to plot
            try:
                counts = counts_from_junit(junit)
            except (OSError, ET.ParseError) as exc:
                problems.append(f"{directory.name}: junit.xml unreadable ({exc})")
                continue
        runs.append(RunCounts(directory.name, stamp, *counts))
    runs.reverse()
    if other:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(other.items(), key=lambda item: item[0] == UNRECORDED))
        noun = "run" if other.total() == 1 else "runs"
        problems.append(f"Left out: {other.total()} earlier {noun} from other kinds of source ({kinds})")
    return runs, problems
