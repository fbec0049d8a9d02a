"""A pod's containers as on-call reads them first: why each failing one waits or ended, and how it last ended.

`kubectl get pods` says `CrashLoopBackOff READY 1/2 (restarts 12)`; what to do next depends on what
`kubectl describe pod` adds: the waiting reason's message (`back-off 5m0s restarting failed container`), the
last termination's reason and exit code (`OOMKilled`, 137) and its message. Messages are what a container or
the kubelet wrote (a termination message may be 4 KiB of anything): whitespace is collapsed, control characters
are escaped so a terminal shows rather than obeys them, and the text is cut to MESSAGE_MAX characters.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

MESSAGE_MAX = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(text: str, limit: int = MESSAGE_MAX) -> str:
    """Text from a container status, on one line, control characters escaped, at most `limit` characters."""
    one_line = " ".join(text.split())
    escaped = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else " ", one_line)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class State:
    """One state of a container as the kubelet reports it (`state` or `lastState`): waiting, running or
    terminated, with its reason, message and, once terminated, exit code, signal and when."""

    kind: str  # waiting | running | terminated
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    signal: int | None = None
    finished_at: str = ""

    @classmethod
    def of(cls, raw: Any) -> State | None:
        """The state of a status's `state` or `lastState` object; None when it reports none."""
        if not isinstance(raw, dict):
            return None
        for kind in ("waiting", "terminated", "running"):
            body = raw.get(kind)
            if isinstance(body, dict):
                return cls(
                    kind,
                    clean(str(body.get("reason") or ""), 100),
                    clean(str(body.get("message") or "")),
                    _int(body.get("exitCode")) if kind == "terminated" else None,
                    _int(body.get("signal")) if kind == "terminated" else None,
                    clean(str(body.get("finishedAt") or ""), 40) if kind == "terminated" else "",
                )
        return None

    def describe(self) -> str:
        """`waiting (CrashLoopBackOff) back-off 5m0s ...`, `terminated (OOMKilled, exit code 137, at ...)`."""
        facts = [self.reason] if self.reason else []
        if self.exit_code is not None:
            facts.append(f"exit code {self.exit_code}")
        if self.signal:
            facts.append(f"signal {self.signal}")
        if self.finished_at:
            facts.append(f"at {self.finished_at}")
        text = f"{self.kind} ({', '.join(facts)})" if facts else self.kind
        return f"{text} {self.message}" if self.message else text

    def as_dict(self) -> dict[str, Any]:
        """In the API's own shape: `{"terminated": {"reason": "OOMKilled", "exitCode": 137, ...}}`."""
        body: dict[str, Any] = {}
        for key, value in (
            ("reason", self.reason),
            ("message", self.message),
            ("exitCode", self.exit_code),
            ("signal", self.signal),
            ("finishedAt", self.finished_at),
        ):
            if value not in ("", None):
                body[key] = value
        return {self.kind: body}


@dataclass(frozen=True)
class ContainerState:
    """What a culprit pod's container is doing and how it last ended."""

    name: str
    ready: bool
    restarts: int
    state: State | None
    last: State | None  # lastState.terminated: the run before the current one
    init: bool = False

    def describe(self) -> str:
        """One line: `container proxy: waiting (CrashLoopBackOff) ...; last terminated (OOMKilled, exit code 137)`."""
        kind = "init container" if self.init else "container"
        now = self.state.describe() if self.state is not None else "no state reported"
        if self.state is not None and self.state.kind == "running" and not self.ready:
            now += ", not ready"
        last = f"; last {self.last.describe()}" if self.last is not None else ""
        return f"{kind} {self.name}: {now}{last}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "ready": self.ready, "restartCount": self.restarts}
        if self.init:
            data["init"] = True
        if self.state is not None:
            data["state"] = self.state.as_dict()
        if self.last is not None:
            data["lastState"] = self.last.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContainerState:
        """The inverse of as_dict (results.json, and records made on pytest-xdist workers)."""
        return cls(
            str(data.get("name") or ""),
            bool(data.get("ready")),
            _int(data.get("restartCount")) or 0,
            _from_api(data.get("state")),
            _from_api(data.get("lastState")),
            bool(data.get("init")),
        )

    def replace_text(self, change: Callable[[str], str]) -> ContainerState:
        """The same state with every text passed through `change` (the redaction layer's redact_text)."""

        def text(state: State | None) -> State | None:
            if state is None:
                return None
            return dataclasses.replace(state, reason=change(state.reason), message=change(state.message))

        return dataclasses.replace(self, name=change(self.name), state=text(self.state), last=text(self.last))


def _from_api(raw: Any) -> State | None:
    if not isinstance(raw, dict) or len(raw) != 1:
        return None
    ((kind, body),) = raw.items()
    if not isinstance(body, dict):
        return None
    return State(
        str(kind),
        str(body.get("reason") or ""),
        str(body.get("message") or ""),
        _int(body.get("exitCode")),
        _int(body.get("signal")),
        str(body.get("finishedAt") or ""),
    )


def _failing(status: dict[str, Any], init: bool) -> bool:
    state = status.get("state") or {}
    if init:
        terminated = state.get("terminated")
        # A finished init container has done its job; a sidecar (restartPolicy Always) runs on.
        return not (isinstance(terminated, dict) and _int(terminated.get("exitCode")) == 0) and not (
            status.get("started") and status.get("ready")
        )
    waiting = state.get("waiting")
    if isinstance(waiting, dict) and waiting.get("reason") == "PodInitializing":
        return False  # waits for its init containers, which are described instead
    return not status.get("ready") or not isinstance(state.get("running"), dict)


def container_states(pod: dict[str, Any], names: Collection[str] | None = None) -> tuple[ContainerState, ...]:
    """The pod's containers that fail (not ready, waiting, or ended other than an init container's success), init
    containers first as the kubelet runs them; or exactly the containers `names` lists."""
    status = pod.get("status") or {}
    found = []
    for field_name, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for raw in status.get(field_name) or ():
            if not isinstance(raw, dict):
                continue
            name = str(raw.get("name") or "")
            if names is not None and name not in names:
                continue
            if names is None and not _failing(raw, init):
                continue
            last = State.of(raw.get("lastState"))
            found.append(
                ContainerState(
                    clean(name, 100),
                    bool(raw.get("ready")),
                    _int(raw.get("restartCount")) or 0,
                    State.of(raw.get("state")),
                    last if last is not None and last.kind == "terminated" else None,
                    init,
                )
            )
    return tuple(found)


def most_telling(states: tuple[ContainerState, ...]) -> str:
    """The container a `kubectl logs -c` should name: one that crashed before (a last termination), most often."""
    return max(states, key=lambda s: (s.last is not None, s.restarts)).name if states else ""
