"""Provenance of a profile's expectations: every traced entry, where it is, and whether it says what it rests on."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from conformance.profile.model_base import Traced

Path = tuple[int | str, ...]


def traced_entries(node: object, path: Path = ()) -> Iterator[tuple[Path, Traced]]:
    """Every Traced entry under `node`, with its YAML path (keys as written, list indexes), outermost first."""
    if isinstance(node, Traced):
        yield path, node
    if isinstance(node, BaseModel):
        for name, field in type(node).model_fields.items():
            yield from traced_entries(getattr(node, name), (*path, field.alias or name))
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            yield from traced_entries(item, (*path, index))
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from traced_entries(item, (*path, str(key)))


def unmarked(node: object) -> list[tuple[Path, Traced]]:
    """The entries with neither a source nor an explicit basis: nobody has said what their values rest on."""
    return [(path, entry) for path, entry in traced_entries(node) if not entry.marked]
