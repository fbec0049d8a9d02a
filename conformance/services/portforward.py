"""Port-forward to a pod through the API server (the Kubernetes port-forward protocol over WebSocket)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from conformance.errors import SourceError
from conformance.profile.services import PortForwardRef
from conformance.transport import HttpReply

if TYPE_CHECKING:
    from conformance.cluster.live import KubeClient


def port_forward_get(
    kube: KubeClient, ref: PortForwardRef, path: str, headers: Mapping[str, str], timeout: float
) -> HttpReply:
    """GET `path` from the pod's port through a port-forward tunnel."""
    raise SourceError("port-forward", "not implemented yet")
