"""Base classes of profile models: strict (unknown keys rejected) and traced (with provenance)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from conformance.profile.types import Text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Traced(Strict):
    """An expectation with its provenance."""

    source: Text | None = Field(default=None, description="Where this expectation comes from.")
    note: Text | None = Field(default=None, description="Why it is what it is; exceptions granted.")
