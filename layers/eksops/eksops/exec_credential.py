"""The ExecCredential kubectl's exec plugin protocol expects, rendered as the AWS CLI renders it.

On the path of every cached kubectl call: the usual cases are handled with string operations,
and ``json`` (with ``re``, ~9 ms to import here) is loaded only for anything unusual.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds here
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
V1ALPHA1 = "client.authentication.k8s.io/v1alpha1"


def api_version(environ: Mapping[str, str], warn: Callable[[str], None]) -> str:
    """The apiVersion kubectl asked for in KUBERNETES_EXEC_INFO (the AWS CLI's rules)."""
    raw = environ.get("KUBERNETES_EXEC_INFO", "")
    if not raw:
        return V1BETA1
    # What client-go writes: compact JSON opening with kind and apiVersion. Anything else
    # goes to the JSON parser.
    prefix = '{"kind":"ExecCredential","apiVersion":"'
    if raw.startswith(prefix):
        requested = raw[len(prefix) :].split('"', 1)[0]
        if requested in (V1, V1BETA1):
            return requested
    import json

    try:
        requested = json.loads(raw).get("apiVersion")
    except (json.JSONDecodeError, AttributeError):
        warn(f"cannot parse KUBERNETES_EXEC_INFO, defaulting to {V1BETA1}")
        return V1BETA1
    if requested in (V1, V1BETA1):
        return requested
    if requested == V1ALPHA1:
        warn(f"{V1ALPHA1} is deprecated: run `eksops kubeconfig` to update the kubeconfig user")
        return requested
    warn(f"unrecognized apiVersion {requested!r} in KUBERNETES_EXEC_INFO, using {V1BETA1}")
    return V1BETA1


_TEMPLATE = """\
{
    "kind": "ExecCredential",
    "apiVersion": "%s",
    "spec": {},
    "status": {
        "expirationTimestamp": "%s",
        "token": "%s"
    }
}

"""


def _plain(value: str) -> bool:
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value


def render(token: str, expiration_timestamp: str, version: str) -> str:
    """The document, keys in the AWS CLI's order, with its JSON formatting (indent 4) and
    trailing newlines, so the two outputs compare byte for byte."""
    values = (version, expiration_timestamp, token)
    if all(_plain(value) for value in values):
        return _TEMPLATE % values
    import json

    document = {
        "kind": "ExecCredential",
        "apiVersion": version,
        "spec": {},
        "status": {"expirationTimestamp": expiration_timestamp, "token": token},
    }
    return json.dumps(document, indent=4, ensure_ascii=False) + "\n\n"
