"""Base classes of profile models: strict (unknown keys rejected) and traced (with provenance)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from conformance.profile.types import Text

Severity = Literal["blocker", "critical", "normal", "minor"]
SEVERITIES: tuple[Severity, ...] = ("blocker", "critical", "normal", "minor")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Located(Strict):
    """An entry that knows where it was written."""

    # `file:line` of the entry in the profile (or the profile it extends), set by the loader.
    _origin: str | None = PrivateAttr(default=None)

    @property
    def origin(self) -> str | None:
        return self._origin


class Traced(Located):
    """An expectation with its provenance: where it comes from, why, how much it matters, which profile line."""

    source: Text | None = Field(default=None, description="Where this expectation comes from: report section, ticket.")
    note: Text | None = Field(default=None, description="Why it is what it is; exceptions granted.")
    severity: Severity | None = Field(default=None, description="Overrides the check's default severity.")
