"""What the offline account offers beyond AWS's APIs, under /_eksops/ on its endpoint: the
operations a real account does by itself (a schedule firing), asked for explicitly."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from eksops.errors import EksopsError


class OfflineAccountError(EksopsError):
    """The offline account is not running there, or refused the operation."""

    error_name = "eksops.OfflineAccount"


CONTROL_PREFIX = "/_eksops/"
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlApp:
    """WSGI middleware: /_eksops/<operation> to ``operations``, everything else to moto."""

    def __init__(self, moto_app: Any, operations: dict[str, Handler]) -> None:
        self.moto_app = moto_app
        self.operations = operations

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(CONTROL_PREFIX):
            return self.moto_app(environ, start_response)
        operation = self.operations.get(path.removeprefix(CONTROL_PREFIX))
        if operation is None or environ.get("REQUEST_METHOD") != "POST":
            return _respond(start_response, "404 Not Found", {"error": f"no operation {path}"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            request = json.loads(environ["wsgi.input"].read(length) or b"{}")
            return _respond(start_response, "200 OK", operation(request))
        except EksopsError as exc:
            body = {"error": exc.error_name, "message": str(exc)}
            return _respond(start_response, "400 Bad Request", body)
        except (ValueError, KeyError) as exc:
            body = {"error": "eksops.InvalidInput", "message": f"bad request: {exc}"}
            return _respond(start_response, "400 Bad Request", body)


def _respond(start_response: Callable, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def call(endpoint_url: str, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """Client side: run ``operation`` on the offline account at ``endpoint_url``."""
    import urllib.error
    import urllib.request

    url = endpoint_url.rstrip("/") + CONTROL_PREFIX + operation
    data = json.dumps(request).encode()
    if not url.startswith(("http://", "https://")):
        raise OfflineAccountError(f"{endpoint_url} is not an http(s) endpoint")
    http = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(http, timeout=30) as response:  # noqa: S310 - our endpoint
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
        raise OfflineAccountError(f"{body.get('error')}: {body.get('message')}") from None
    except urllib.error.URLError as exc:
        raise OfflineAccountError(
            f"no offline account at {endpoint_url} ({exc.reason}): start one with `eksops local up`"
        ) from None
