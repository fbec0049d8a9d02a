"""Finding, reading, overlaying and validating profiles, reporting every problem at once.

Overlay rules (`extends: NAME`): mappings merge key by key, the overlay winning; lists of
entries that have an identity (namespace, kind, name, or a rule's name) merge entry by entry,
so an overlay can change one workload without repeating the others; any other list, and any
scalar, is replaced whole, and so are `access` and credential mappings (they choose one of several
ways). `metadata` is never inherited.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from conformance.errors import ProfileError
from conformance.profile.model import Profile
from conformance.profile.model_base import Located
from conformance.profile.provenance import unmarked

IDENTITY_KEYS = ("namespace", "kind", "name")
# Mappings that choose one alternative (how a service is reached, where a secret comes from):
# merging them key by key would combine two choices, so an overlay replaces them whole.
REPLACED_WHOLE = frozenset({"access", "credentials", "sasl_password"})
MAX_DEPTH = 8


@dataclass(frozen=True)
class LoadedProfile:
    profile: Profile
    path: Path
    sha256: str
    chain: tuple[Path, ...]

    @property
    def name(self) -> str:
        return self.profile.metadata.name


def available_profiles(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory.is_dir() else []


def resolve_profile_path(ref: str, directory: Path, paths_relative: bool = False) -> Path:
    """A name (`prod` -> `<directory>/prod.yaml`) or a path to a YAML file.

    Paths are relative to the working directory, or with `paths_relative` (an `extends` inside a
    profile) to `directory`, the extending profile's own directory.
    """
    candidate = Path(ref)
    if candidate.suffix in (".yaml", ".yml") or "/" in ref:
        if paths_relative and not candidate.is_absolute():
            candidate = directory / candidate
        if candidate.is_file():
            return candidate
        raise ProfileError(ref, ["no such file"])
    named = directory / f"{ref}.yaml"
    if named.is_file():
        return named
    known = ", ".join(available_profiles(directory)) or "none"
    raise ProfileError(ref, [f"unknown profile; available in {directory}: {known}"])


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers where each mapping key and sequence item starts."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    return _Located(mapping, lines, node.start_mark.line + 1)


class _Located(dict[Any, Any]):
    """A mapping that knows the line of each of its keys, and its own (for messages)."""

    def __init__(self, items: dict[Any, Any], lines: dict[Any, int], start: int) -> None:
        super().__init__(items)
        self.lines = lines
        self.start = start


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def yaml_problem(exc: yaml.YAMLError) -> tuple[tuple[int, int] | None, str]:
    """Where a YAML error is (line and column, from 1) and `not valid YAML: what`, with where the construct
    it was reading began."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context, began = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and began is not None and (mark is None or (began.line, began.column) != (mark.line, mark.column)):
        problem += f" ({context} at line {began.line + 1}, column {began.column + 1})"
    elif context:
        problem += f" ({context})"
    return ((mark.line + 1, mark.column + 1) if mark is not None else None), f"not valid YAML: {problem}"


_KINDS = {str: "plain text", list: "a list", int: "a number", float: "a number", bool: "true or false"}


def yaml_kind(value: Any) -> str:
    """What a document is instead of a mapping, in words: `plain text`, `a list`."""
    return _KINDS.get(type(value), type(value).__name__)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ProfileError(str(path), [f"{path}: cannot read: {reason}"]) from None
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        at, problem = yaml_problem(exc)
        where = f"{path}:{at[0]}:{at[1]}: " if at is not None else f"{path}: "
        raise ProfileError(str(path), [where + problem]) from None
    finally:
        loader.dispose()
    expected = "expected a mapping with apiVersion, kind and metadata"
    if node is None:
        raise ProfileError(str(path), [f"{path}: the file is empty: {expected}"])
    if not isinstance(document, dict):
        line = node.start_mark.line + 1
        raise ProfileError(str(path), [f"{path}:{line}: {expected}, not {yaml_kind(document)}"])
    return document


def _identity(entry: Any) -> tuple[Any, ...] | None:
    if not isinstance(entry, dict):
        return None
    key = tuple(entry.get(k) for k in IDENTITY_KEYS)
    return key if any(part is not None for part in key) else None


def merge(base: Any, overlay: Any) -> Any:
    """Overlay `overlay` onto `base` by the rules in this module's docstring."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged: dict[Any, Any] = dict(base)
        for key, value in overlay.items():
            merged[key] = merge(base[key], value) if key in base and key not in REPLACED_WHOLE else value
        return merged
    if isinstance(base, list) and isinstance(overlay, list):
        base_ids = [_identity(e) for e in base]
        overlay_ids = [_identity(e) for e in overlay]
        if all(i is not None for i in base_ids + overlay_ids):
            result = list(base)
            for entry, ident in zip(overlay, overlay_ids, strict=True):
                if ident in base_ids:
                    position = base_ids.index(ident)
                    result[position] = merge(base[position], entry)
                else:
                    result.append(entry)
            return result
    return overlay


def _path_text(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line_of(document: Any, loc: tuple[int | str, ...]) -> int | None:
    node, line = document, None
    for part in loc:
        if isinstance(node, _Located) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, _Located) and node.lines:
                line = min(node.lines.values())
        else:
            break
    return line


_MESSAGES = {
    "missing": "required",
    "int_type": "expected an integer",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's type can hold: itself, or inside Optional, unions, lists and mappings."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def keys_at(model: type[BaseModel], path: tuple[int | str, ...]) -> list[str]:
    """The keys a document may have at `path` (list indexes skipped), as written in YAML (aliases)."""
    models = [model]
    for part in path:
        if isinstance(part, int):
            continue
        models = [
            inner
            for outer in models
            for name, field in outer.model_fields.items()
            if part in (name, field.alias)
            for inner in _models_in(field.annotation)
        ]
    return list(dict.fromkeys(field.alias or name for m in models for name, field in m.model_fields.items()))


def unknown_key(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """`unknown key; did you mean grace?`, or the keys valid there when none is close."""
    valid = keys_at(model, loc[:-1])
    key = loc[-1] if loc else ""
    close = difflib.get_close_matches(str(key), valid, n=1) if isinstance(key, str) else []
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return f"unknown key (valid here: {', '.join(valid)})" if valid else "unknown key"


def _message(error: Any, model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return unknown_key(model, loc)
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "literal_error":
        return f"expected {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} is not a valid name here"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _clean_loc(loc: tuple[Any, ...]) -> tuple[int | str, ...]:
    # pydantic adds union-member and validator names to locations; keep the YAML path only.
    return tuple(p for p in loc if isinstance(p, int) or not (p.startswith(("function-", "lax-")) or "[" in p))


def located_problems(
    exc: ValidationError, documents: list[tuple[Path, Any]], model: type[BaseModel] = Profile
) -> list[str]:
    """Every validation error as `file:line: path: problem`, in line order; the line from the first of the
    documents (a profile and the ones it extends) that has the path, else where the first one begins (a key
    missing at the top level). An unknown key names the closest valid key of `model` at its path."""
    located: list[tuple[int, str]] = []
    for error in exc.errors():
        loc = _clean_loc(error["loc"])
        where, order = "", 0
        for source, document in documents:
            line = _line_of(document, loc)
            if line is not None:
                where, order = f"{source}:{line}: ", line
                break
        else:
            if documents and isinstance(documents[0][1], _Located):
                source, document = documents[0]
                where, order = f"{source}:{document.start}: ", document.start
        located.append((order, f"{where}{_path_text(loc)}: {_message(error, model, loc)}"))
    return [text for _, text in sorted(located, key=lambda pair: pair[0])]


Cursor = tuple[Path, Any, int | None]


def _display(path: Path) -> str:
    """A profile path as people read it in reports: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _annotate_origins(node: Any, cursors: list[Cursor]) -> None:
    """Record on every traced entry the file and line it was written at: the overlay's, else the base's.

    Each cursor follows the same entry through one raw document; list entries are matched by identity,
    since merging by identity moves them away from their index in the overlay.
    """
    if isinstance(node, Located):
        for source, raw, line in cursors:
            if raw is not None and line is not None:
                node._origin = f"{_display(source)}:{line}"
                break
    if isinstance(node, BaseModel):
        for name, field in type(node).model_fields.items():
            key = field.alias or name
            _annotate_origins(
                getattr(node, name),
                [
                    (src, raw.get(key), raw.lines.get(key)) if isinstance(raw, _Located) else (src, None, None)
                    for src, raw, _ in cursors
                ],
            )
    elif isinstance(node, list):
        for index, item in enumerate(node):
            ident = tuple(getattr(item, k, None) for k in IDENTITY_KEYS)
            moved: list[Cursor] = []
            for src, raw, _ in cursors:
                entry = None
                if isinstance(raw, list):
                    if any(part is not None for part in ident):
                        entry = next((e for e in raw if _identity(e) == ident), None)
                    elif index < len(raw):
                        entry = raw[index]
                line = min(entry.lines.values()) if isinstance(entry, _Located) and entry.lines else None
                moved.append((src, entry, line))
            _annotate_origins(item, moved)


def _unmarked_problems(profile: Profile, documents: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """`file:line: path: ...` for each entry that says nothing of what it rests on, in a profile that requires it."""
    problems: list[tuple[int, str]] = []
    for loc, _ in unmarked(profile):
        where, order = f"{documents[0][0]}: ", 0
        for source, document in documents:
            line = _line_of(document, loc)
            if line is not None:
                where, order = f"{source}:{line}: ", line
                break
        text = "no source and no basis (metadata.provenance: required): give the report section, or basis: assumed"
        problems.append((order, f"{where}{_path_text(loc)}: {text} with a note"))
    return [text for _, text in sorted(problems, key=lambda pair: pair[0])]


def load_profile(ref: str, directory: Path) -> LoadedProfile:
    """Load a profile by name or path, applying `extends`; ProfileError lists every problem."""
    path = resolve_profile_path(ref, directory)
    documents: list[tuple[Path, dict[str, Any]]] = []
    current: Path | None = path
    while current is not None:
        # Where the profile that led here says `extends`: problems of the chain are reported at that line.
        extended = f"{documents[-1][0]}:{_line_of(documents[-1][1], ('extends',))}: " if documents else ""
        if any(current.resolve() == seen.resolve() for seen, _ in documents):
            cycle = " -> ".join(str(p) for p, _ in documents)
            raise ProfileError(str(path), [f"{extended}extends forms a cycle: {cycle} -> {current}"])
        if len(documents) >= MAX_DEPTH:
            raise ProfileError(str(path), [f"{extended}extends is nested deeper than {MAX_DEPTH} profiles"])
        try:
            document = _read_yaml(current)
        except ProfileError as exc:
            raise ProfileError(str(path), exc.problems) from None
        documents.append((current, document))
        parent = document.get("extends")
        where = f"{current}:{_line_of(document, ('extends',))}: "
        if parent is None:
            current = None
        elif not isinstance(parent, str):
            raise ProfileError(str(current), [f"{where}extends: expected a profile name or path"])
        else:
            try:
                current = resolve_profile_path(parent, current.parent, paths_relative=True)
            except ProfileError as exc:
                raise ProfileError(str(current), [f"{where}extends: {p}" for p in exc.problems]) from None

    merged: dict[str, Any] = {}
    for _, document in reversed(documents):
        layer = {k: v for k, v in document.items() if k != "metadata"} if merged else document
        merged = merge(merged, layer) if merged else dict(layer)
    merged["metadata"] = documents[0][1].get("metadata")
    merged["extends"] = documents[0][1].get("extends")

    try:
        profile = Profile.model_validate(merged)
    except ValidationError as exc:
        raise ProfileError(str(path), located_problems(exc, documents)) from None

    _annotate_origins(profile, [(source, document, 1) for source, document in documents])
    if profile.metadata.provenance == "required":
        problems = _unmarked_problems(profile, documents)
        if problems:
            raise ProfileError(str(path), problems)
    digest = hashlib.sha256()
    for source, _ in documents:
        digest.update(source.read_bytes())
    return LoadedProfile(profile, path, digest.hexdigest(), tuple(p for p, _ in documents))
