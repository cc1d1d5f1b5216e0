"""Kubeconfig documents for a cluster, merged into files as `aws eks update-kubeconfig` does.

Entries are keyed by name (the cluster ARN unless an alias is given): a re-run replaces its own
cluster, context and user and touches nothing else. The file is rewritten atomically under an
advisory lock, so concurrent runs cannot lose each other's entries.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eksops.eks_cluster import ClusterEndpoint
from eksops.eks_token import EksToken, TokenRequest
from eksops.errors import KubeconfigError
from eksops.exec_credential import V1BETA1

_SECTIONS = ("clusters", "contexts", "users")


@dataclass(frozen=True)
class MergeResult:
    path: Path
    context: str
    changed: bool


def default_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The first file of KUBECONFIG, else ~/.kube/config (kubectl's and the AWS CLI's rule)."""
    paths = [entry for entry in environ.get("KUBECONFIG", "").split(os.pathsep) if entry]
    return Path(paths[0] if paths else "~/.kube/config").expanduser()


def exec_user(request: TokenRequest, command: str) -> dict[str, Any]:
    """A user whose credentials come from `eksops token` for this cluster."""
    args = ["token", "--cluster-name", request.cluster_name]
    if request.region:
        args += ["--region", request.region]
    if request.role_arn:
        args += ["--role-arn", request.role_arn]
    if request.role_session_name != TokenRequest.role_session_name:
        args += ["--role-session-name", request.role_session_name]
    if request.external_id:
        args += ["--external-id", request.external_id]
    spec: dict[str, Any] = {"apiVersion": V1BETA1, "command": command, "args": args}
    if request.profile:
        spec["env"] = [{"name": "AWS_PROFILE", "value": request.profile}]
    spec["interactiveMode"] = "Never"
    return {"exec": spec}


def token_user(token: EksToken) -> dict[str, Any]:
    """A user carrying a static bearer token (valid until the token expires)."""
    return {"token": token.token}


def document(cluster: ClusterEndpoint, user: dict[str, Any], name: str) -> dict[str, Any]:
    """A complete kubeconfig with one cluster, context and user, all named ``name``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": cluster.endpoint,
                    "certificate-authority-data": cluster.certificate_authority_data,
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": user}],
        "current-context": name,
    }


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the write itself stays atomic
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KubeconfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{path} is not valid YAML, left unchanged: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or any(
        not isinstance(loaded.get(section) or [], list) for section in _SECTIONS
    ):
        raise KubeconfigError(f"{path} is not a kubeconfig (mapping with lists), left unchanged")
    return loaded


def _upsert(entries: list[dict[str, Any]], new: dict[str, Any]) -> None:
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("name") == new["name"]:
            entries[index] = new
            return
    entries.append(new)


def merge_into_file(path: Path, new: dict[str, Any]) -> MergeResult:
    """Merge a one-context document into ``path`` and make its context current."""
    import yaml

    path = path.resolve()  # write through a symlinked kubeconfig, as kubectl does
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        config = _load(path)
        before = yaml.safe_dump(config, sort_keys=False) if config else None
        config.setdefault("apiVersion", "v1")
        config.setdefault("kind", "Config")
        config.setdefault("preferences", {})
        for section in _SECTIONS:
            entries = config.get(section) or []
            for entry in new[section]:
                _upsert(entries, entry)
            config[section] = entries
        config["current-context"] = new["current-context"]
        after = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
        if after != before:
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(after)
                os.chmod(tmp, mode)
                os.replace(tmp, path)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                raise KubeconfigError(f"cannot write {path}: {exc.strerror}") from exc
    return MergeResult(path, new["current-context"], after != before)
