"""Profiles: shipped ones validate, every way a profile can be wrong gets its own clear message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.errors import ProfileError
from conformance.profile.loader import load_profile, merge
from conformance.profile.schema import render_schema

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
BAD = sorted((Path(__file__).parent / "profiles").glob("bad-*.yaml"))


def expected_message(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <message>'"
    return first.removeprefix("# expect: ").replace("{file}", str(path))


@pytest.mark.parametrize("name", ["prod", "staging"])
def test_shipped_profiles_are_valid(name: str) -> None:
    loaded = load_profile(name, PROFILES)
    assert loaded.name == name
    assert len(loaded.sha256) == 64


def test_committed_schema_matches_the_model() -> None:
    committed = (PROFILES / "schema.json").read_text()
    assert committed == render_schema(), "run: python -m conformance schema > profiles/schema.json"


def test_shipped_profiles_point_editors_at_the_schema() -> None:
    for path in PROFILES.glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=schema.json"), path.name


def test_schema_rejects_unknown_top_level_keys() -> None:
    schema = json.loads(render_schema())
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_each_bad_profile_names_its_problem(path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path), PROFILES)
    text = str(caught.value)
    assert expected_message(path) in text
    assert "Traceback" not in text


def test_every_problem_is_listed_with_its_line(tmp_path: Path) -> None:
    profile = tmp_path / "many.yaml"
    profile.write_text(
        "apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: many}\n"
        "pods:\n  grace: soon\n"
        "workloads:\n  required:\n"
        "    - {namespace: kong, kind: Deployment, name: kong, replicas: 2}\n"
        "    - {namespace: kong, kind: Deployment, name: kong-2, replicas: two}\n"
        "nodes: {count: many}\n"
    )
    with pytest.raises(ProfileError) as caught:
        load_profile(str(profile), PROFILES)
    problems = caught.value.problems
    assert problems == [
        f"{profile}:5: pods.grace: 'soon' is not a duration (examples: 30s, 5m, 1h30m, 500ms)",
        f"{profile}:9: workloads.required[1].replicas: expected an integer",
        f"{profile}:10: nodes.count: expected an integer",
    ]


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile("prdo", PROFILES)
    assert "unknown profile" in str(caught.value)
    assert "prod, staging" in str(caught.value)


def test_overlay_merges_entries_by_identity_and_replaces_scalars() -> None:
    staging = load_profile("staging", PROFILES).profile
    prod = load_profile("prod", PROFILES).profile
    assert staging.metadata.name == "staging"
    assert staging.pods is not None
    assert prod.pods is not None
    assert staging.pods.grace.total_seconds() == 600
    data_platform = next(n for n in staging.pods.namespaces if n.namespace == "data-platform")
    assert data_platform.min == 20
    assert data_platform.source == next(n for n in prod.pods.namespaces if n.namespace == "data-platform").source
    assert len(staging.pods.namespaces) == len(prod.pods.namespaces)
    assert staging.workloads is not None
    kong = next(w for w in staging.workloads.required if w.name == "kong")
    assert (kong.replicas, kong.containers) == (1, 2)
    assert staging.capacity is not None
    assert staging.capacity.usage is not None
    assert staging.capacity.usage.cpu == 0.85
    assert staging.capacity.requests == prod.capacity.requests  # type: ignore[union-attr]


def test_merge_rules() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "l": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]}
    overlay = {"a": {"c": [3]}, "l": [{"name": "y", "v": 5}, {"name": "z", "v": 6}]}
    assert merge(base, overlay) == {
        "a": {"b": 1, "c": [3]},
        "l": [{"name": "x", "v": 1}, {"name": "y", "v": 5}, {"name": "z", "v": 6}],
    }


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_each_problem_names_its_file_and_line(path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path), PROFILES)
    for problem in caught.value.problems:
        assert re.match(rf"{re.escape(str(path.parent))}/[\w.-]+\.yaml:\d+(:\d+)?: ", problem), problem


@pytest.mark.parametrize(
    ("written", "suggested"),
    [
        ("pods:\n  gracee: 5m\n", "pods.gracee: unknown key; did you mean grace?"),
        ("nodse: {count: 3}\n", "nodse: unknown key; did you mean nodes?"),
        (
            "workloads:\n  required:\n    - {namespace: kong, kind: Deployment, name: kong, replica: 2}\n",
            "workloads.required[0].replica: unknown key; did you mean replicas?",
        ),
        ("collection: {budgett: 5m}\n", "collection.budgett: unknown key; did you mean budget?"),
        (
            "services:\n  kafka: {bootstrapp: 'k:9092'}\n",
            "services.kafka.bootstrapp: unknown key; did you mean bootstrap?",
        ),
        ("apiversion: conformance/v1alpha1\n", "apiversion: unknown key; did you mean apiVersion?"),
    ],
)
def test_an_unknown_key_suggests_the_closest_valid_one(written: str, suggested: str, tmp_path: Path) -> None:
    header = "apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: typo}\n"
    if written.startswith("apiversion"):
        header = header.removeprefix("apiVersion: conformance/v1alpha1\n")
    profile = tmp_path / "typo.yaml"
    profile.write_text(header + written)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(profile), PROFILES)
    assert any(p.startswith(f"{profile}:") and p.endswith(suggested) for p in caught.value.problems), caught.value


def test_an_unknown_key_without_a_close_match_lists_the_valid_ones(tmp_path: Path) -> None:
    profile = tmp_path / "far.yaml"
    profile.write_text("apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: far, colour: blue}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(profile), PROFILES)
    assert caught.value.problems == [
        f"{profile}:3: metadata.colour: unknown key (valid here: name, description, provenance)"
    ]


def test_a_syntax_error_in_an_extended_profile_names_that_file(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: base}\npods: {grace: [5m}\n")
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("apiVersion: conformance/v1alpha1\nkind: Profile\nmetadata: {name: overlay}\nextends: base\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(overlay), PROFILES)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{base}:4:18: not valid YAML: "), problem
