"""Files the run wrote itself, through the redaction layer: their digest, and the registry they were redacted with.

On a large cluster the evidence is most of what a run writes. Written once, it need not be read twice more:
the final secrets sweep skips a file that is unchanged since it was written with the registry as it is now,
and the integrity manifest takes its digest from here. A file changed since (size or modification time)
is read again, as any other. One `WrittenFiles` per run, owned by the run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Written:
    size: int
    mtime_ns: int
    sha256: str
    registry: int  # how many forms of secrets were registered when the file was redacted


class WrittenFiles:
    """What one run wrote through the redaction layer, by absolute path."""

    def __init__(self) -> None:
        self._written: dict[str, Written] = {}

    def write(self, path: Path, chunks: Iterable[bytes], registry: int) -> Path:
        """Write already redacted chunks to `path`, remembering its digest."""
        digest = hashlib.sha256()
        with path.open("wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
        stat = os.stat(path)
        self._written[str(path.absolute())] = Written(stat.st_size, stat.st_mtime_ns, digest.hexdigest(), registry)
        return path

    def _unchanged(self, path: Path) -> Written | None:
        known = self._written.get(str(path.absolute()))
        if known is None:
            return None
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return known if (stat.st_size, stat.st_mtime_ns) == (known.size, known.mtime_ns) else None

    def clean(self, path: Path, registry: int) -> bool:
        """Whether `path` is as written, redacted with every secret registered now."""
        known = self._unchanged(path)
        return known is not None and known.registry == registry

    def digest(self, path: Path) -> str | None:
        """The sha256 of `path` as written, if it is unchanged since."""
        known = self._unchanged(path)
        return known.sha256 if known is not None else None
