"""Evidence of a live list, kept on disk while the run goes on: one chunk of items per page, as bytes.

The objects a live run keeps in memory are projections (conformance.cluster.projection); the pages as
the API server sent them wait here until conformance.cluster.evidence strips and writes them. An anonymous temporary
file: nothing is left behind, and a large cluster's evidence does not count against the run's memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator


class PageSpool:
    """Chunks appended in order and read back in order; `clear` starts over (a list restarted after a 410)."""

    def __init__(self) -> None:
        # Closed by close(), or with the state that holds it: it lives as long as the run's evidence.
        self._file = tempfile.TemporaryFile(prefix="conformance-evidence-")  # noqa: SIM115
        self._sizes: list[int] = []

    def append(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._sizes.append(len(chunk))

    def clear(self) -> None:
        self._file.seek(0)
        self._file.truncate()
        self._sizes.clear()

    def __len__(self) -> int:
        return len(self._sizes)

    def __iter__(self) -> Iterator[bytes]:
        self._file.flush()
        self._file.seek(0)
        for size in self._sizes:
            yield self._file.read(size)
        self._file.seek(0, 2)

    def close(self) -> None:
        self._file.close()
