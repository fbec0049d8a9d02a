"""Which cluster a live run talks to, and with which credentials: a kubeconfig, or the pod's service account.

The official client reads the kubeconfig; its errors on a file that is not one are about its own internals
(`'str' object does not support item assignment`), so the file is first read here, and what is wrong with it is
said in the file's terms: which file, which line, what it is instead of a kubeconfig.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.errors import ConformanceError
from conformance.profile.loader import yaml_kind, yaml_problem


class KubeconfigError(ConformanceError):
    """No usable credentials: a bad kubeconfig, an unknown context, or nowhere to look."""


class NoKubeconfig(KubeconfigError):
    """The kubeconfig is not there; each command line adds what it offers instead."""


@dataclass(frozen=True)
class Target:
    """The cluster a live run talks to, as resolved from kubeconfig or the pod's service account."""

    configuration: Any  # kubernetes.client.Configuration
    server: str
    context: str | None

    @property
    def label(self) -> str:
        return f"{self.context} ({self.server})" if self.context else self.server


def _document(source: Path) -> dict[str, Any]:
    """The kubeconfig as a mapping; KubeconfigError naming the file, and the line where there is one."""
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise KubeconfigError(f"kubeconfig {source}: cannot read: {reason}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        at, problem = yaml_problem(exc)
        where = f"line {at[0]}, column {at[1]}: " if at is not None else ""
        raise KubeconfigError(f"kubeconfig {source}: {where}{problem}") from None
    finally:
        loader.dispose()
    if node is None:
        raise KubeconfigError(f"kubeconfig {source}: the file is empty")
    if not isinstance(document, dict):
        line = node.start_mark.line + 1
        raise KubeconfigError(
            f"kubeconfig {source}: line {line}: not a kubeconfig: {yaml_kind(document)}, "
            "not a YAML mapping of clusters, contexts and users"
        )
    return document


def _context_names(source: Path, document: dict[str, Any]) -> list[str]:
    contexts = document.get("contexts")
    if contexts is None or contexts == []:
        raise KubeconfigError(f"kubeconfig {source}: no contexts defined")
    if not isinstance(contexts, list) or not all(isinstance(c, dict) and c.get("name") for c in contexts):
        raise KubeconfigError(f"kubeconfig {source}: contexts: expected a list of named contexts")
    return [str(c["name"]) for c in contexts]


def _check(source: Path, context: str | None) -> None:
    """What kubectl would refuse, said before the client reads the file."""
    document = _document(source)
    names = _context_names(source, document)
    available = ", ".join(names)
    if context is not None:
        if context not in names:
            raise KubeconfigError(f"kubeconfig {source}: no context {context!r} (available: {available})")
        return
    current = document.get("current-context")
    if not current:
        raise KubeconfigError(
            f"kubeconfig {source}: no current-context, and no --kube-context chose one (available: {available})"
        )
    if current not in names:
        raise KubeconfigError(
            f"kubeconfig {source}: current-context {current!r} is not one of its contexts (available: {available})"
        )


def load_target(kubeconfig: str | None, context: str | None) -> Target:
    """Resolve credentials the way kubectl does; KubeconfigError says what is wrong and where."""
    from kubernetes import client, config  # deferred: snapshot runs never pay for the import

    from conformance import secrets  # deferred: a pytest plugin module, imported first by pytest itself

    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    default = Path.home() / ".kube" / "config"
    if path is None and not default.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        if context:
            raise KubeconfigError("--kube-context needs a kubeconfig; none was found and this is a pod")
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException as exc:
            raise KubeconfigError(f"in-cluster configuration: {exc}") from None
        secrets.register_configuration(configuration)
        return Target(configuration, configuration.host, "in-cluster")
    source = Path(path) if path else default
    if not source.is_file():
        raise NoKubeconfig(f"kubeconfig {source}: no such file")
    _check(source, context)
    try:
        _, active = config.list_kube_config_contexts(config_file=str(source))  # type: ignore[no-untyped-call]
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(source), context=context, client_configuration=configuration, persist_config=False
        )
    except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise KubeconfigError(f"kubeconfig {source}: {exc}") from None
    except Exception as exc:  # the yaml loader and exec plugins raise their own types
        raise KubeconfigError(f"kubeconfig {source}: {type(exc).__name__}: {exc}") from None
    chosen = context or (active or {}).get("name")
    secrets.register_configuration(configuration)  # before anything can print or store them
    return Target(configuration, configuration.host, chosen)
