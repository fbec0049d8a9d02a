"""Base classes of profile models: strict (unknown keys rejected) and traced (with provenance)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from conformance.profile.types import Text

Severity = Literal["blocker", "critical", "normal", "minor"]
SEVERITIES: tuple[Severity, ...] = ("blocker", "critical", "normal", "minor")
# What an expected value rests on: the source document says it, it is assumed (with a note saying why), or it
# was read off a cluster that was judged good (a baseline).
Basis = Literal["report", "assumed", "observed"]
BASES: tuple[Basis, ...] = ("report", "assumed", "observed")


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
    basis: Basis | None = Field(
        default=None,
        description="What the values rest on: report (the source states them; the default when source is given), "
        "assumed (not stated; the note says what is assumed and why) or observed (read off a cluster judged good).",
    )
    observed_at: AwareDatetime | None = Field(
        default=None, description="basis: observed: when the values were read (RFC 3339, with a time zone)."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_basis(cls, data: Any) -> Any:
        # A source with no basis means the source states the values: the profile then reads as it always did.
        if isinstance(data, dict) and data.get("source") is not None and data.get("basis") is None:
            return {**data, "basis": "report"}
        return data

    @model_validator(mode="after")
    def _basis_rules(self) -> Traced:
        if self.basis == "report" and self.source is None:
            raise ValueError("basis: report needs a source (the report section that states the values)")
        if self.observed_at is not None and self.basis != "observed":
            raise ValueError("observed_at applies to basis: observed only")
        return self

    @property
    def marked(self) -> bool:
        """Whether the entry says what it rests on (a source or an explicit basis)."""
        return self.basis is not None
