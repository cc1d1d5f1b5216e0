"""A cluster's Kubernetes API endpoint in the offline account: HTTPS on 127.0.0.1 with the
cluster's own CA, serving what eksops, the ``kubernetes`` Python client and kubectl use.

Every request is authenticated (bearer token -> ``UserInfo``) and authorized
(``RequestAttributes`` -> allowed) through the callables the server is built with, so EKS
token authentication and EKS/RBAC authorization live elsewhere. Exceptions, as in Kubernetes'
default policy: /version and the health checks answer anyone, and discovery (/api, /apis,
/openapi) answers any authenticated user (the system:public-info-viewer and system:discovery
bindings every cluster has).

Bodies are JSON, YAML, or protobuf for the kinds kubectl's typed clients send (see
``resources.decode_protobuf``); answers are always JSON, which every client accepts.

Not served: watch (clients that poll work: kubectl drain and kubectl delete --wait do),
protobuf answers, OpenAPI schemas (the documents say only what kubectl needs to send
``fieldValidation`` and skip client-side validation; the server does not reject unknown
fields), and server-side apply's field ownership (an apply patch creates the object or
strategic-merges into it; nothing is removed and nothing conflicts).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from eksops.local.kube import eviction, patch, resources
from eksops.local.kube.identity import RequestAttributes, UserInfo
from eksops.local.kube.pki import ClusterPki
from eksops.local.kube.resources import ResourceType
from eksops.local.kube.store import (
    ApiError,
    Obj,
    ObjectStore,
    bad_request,
    next_generation,
    not_found,
)

logger = logging.getLogger(__name__)

Authenticator = Callable[[str | None], UserInfo | None]
Authorizer = Callable[[UserInfo, RequestAttributes], bool]

PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
DISCOVERY_PREFIXES = ("/api", "/apis", "/openapi")
# Namespaces every cluster has, and those Kubernetes refuses to delete.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
PROTECTED_NAMESPACE = "this namespace may not be deleted"
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# An idle keep-alive connection's handler thread ends after this long.
CONNECTION_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class SubresourceRequest:
    """What a pluggable subresource handler (``serviceaccounts/<name>/token``) receives."""

    user: UserInfo
    resource: ResourceType
    namespace: str
    name: str
    subresource: str
    verb: str
    body: Obj
    query: Mapping[str, str]
    store: ObjectStore
    dry_run: bool


# Returns (HTTP code, JSON body) or raises ApiError.
SubresourceHandler = Callable[[SubresourceRequest], tuple[int, Obj]]


@dataclass
class Response:
    code: int
    body: Obj | str | bytes
    content_type: str = ""

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


@dataclass(frozen=True)
class _Target:
    """A resource request's parts, as Kubernetes' RequestInfoFactory splits the path."""

    group: str
    version: str
    plural: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""


def _parse_resource_path(parts: list[str]) -> _Target | None:
    if parts[0] == "api" and len(parts) > 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        # namespaces/<ns>/status and /finalize are the namespace's own subresources
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    if len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    return _Target(group, version, rest[0], namespace, name, subresource)


def _verb(method: str, target: _Target, query: Mapping[str, str]) -> str:
    if method == "GET":
        if target.name:
            return "get"
        return "watch" if query.get("watch") in ("true", "1") else "list"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def forbidden(user: UserInfo, attributes: RequestAttributes) -> ApiError:
    """403 with Kubernetes' message (``pods is forbidden: User "x" cannot list resource
    "pods" in API group "" in the namespace "y"``)."""
    who = f'User "{user.username}"'
    if not attributes.resource:
        message = f'forbidden: {who} cannot {attributes.verb} path "{attributes.path}"'
        return ApiError(403, "Forbidden", message)
    resource = attributes.resource
    if attributes.subresource:
        resource += "/" + attributes.subresource
    scope = (
        f'in the namespace "{attributes.namespace}"'
        if attributes.namespace
        else "at the cluster scope"
    )
    qualified = (
        f"{attributes.resource}.{attributes.api_group}"
        if attributes.api_group
        else attributes.resource
    )
    subject = f'{qualified} "{attributes.name}"' if attributes.name else qualified
    message = (
        f"{subject} is forbidden: {who} cannot {attributes.verb} resource "
        f'"{resource}" in API group "{attributes.api_group}" {scope}'
    )
    details: Obj = {"kind": attributes.resource}
    if attributes.name:
        details["name"] = attributes.name
    if attributes.api_group:
        details["group"] = attributes.api_group
    return ApiError(403, "Forbidden", message, details=details)


UNAUTHORIZED = ApiError(401, "Unauthorized", "Unauthorized")


def _not_served() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except ValueError as exc:
        raise bad_request(f"the body of the request was in an unknown format: {exc}") from None


def _suffix(length: int = 5) -> str:
    # generateName's random part; not security-sensitive.
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(random.choice(alphabet) for _ in range(length))  # noqa: S311


class KubeApiServer:
    """One cluster's Kubernetes API endpoint."""

    def __init__(
        self,
        cluster_name: str,
        authenticate: Authenticator,
        authorize: Authorizer,
        *,
        kubernetes_version: str = "1.32",
        pki: ClusterPki | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.kubernetes_version = kubernetes_version
        self.pki = pki or ClusterPki.generate(cluster_name)
        self.store = store or ObjectStore()
        self.endpoint = ""
        # (store key, subresource) -> handler. Eviction is built in; the ServiceAccount
        # TokenRequest ("serviceaccounts", "token") is added by the service-account token
        # issuer when one is configured, and answers 404 until then.
        self.subresource_handlers: dict[tuple[str, str], SubresourceHandler] = {}
        # path -> document answered to anyone, e.g. the service-account issuer's OIDC discovery
        # documents, which EKS publishes without authentication
        self.public_documents: dict[str, Callable[[], Obj]] = {}
        self._authenticate = authenticate
        self._authorize = authorize
        self.faults: Any = None  # a fault_injection.FaultInjector, consulted per HTTP request
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        for namespace in INITIAL_NAMESPACES:
            if self.store.find("namespaces", "", namespace) is None:
                self._create(
                    resources.by_key("namespaces"),
                    "",
                    {"metadata": {"name": namespace}},
                    dry_run=False,
                )

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on an ephemeral port of 127.0.0.1; returns the endpoint URL."""
        httpd = _HttpServer(self, self.pki.server_context())
        self._httpd = httpd
        self.endpoint = f"https://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, name=f"kube-api-{self.cluster_name}", daemon=True
        )
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- requests --------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        """Answer one request (the HTTP layer's only call; usable without sockets)."""
        try:
            return self._handle(method, raw_path, _Headers(dict(headers)), body)
        except ApiError as error:
            return Response(error.code, error.status())
        except Exception as exc:  # a bug here must reach the client as a Status, not a hang
            logger.exception("kube-api %s %s failed", method, urlsplit(raw_path).path)
            error = ApiError(500, "InternalError", f"Internal error occurred: {type(exc).__name__}")
            return Response(500, error.status())

    def _handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        url = urlsplit(raw_path)
        path = "/" + unquote(url.path).strip("/")
        if method == "GET" and path in self.public_documents:
            return Response(200, self.public_documents[path]())
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        token = _bearer(headers.get("Authorization"))
        user = self._authenticate(token)
        public = path in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/"))
        if user is None:
            if token is None and public:
                return self._non_resource(path, "")
            raise UNAUTHORIZED
        if public or (path.split("/")[1] in ("api", "apis", "openapi") and _target(path) is None):
            return self._non_resource(path, headers.get("Accept", ""))
        target = _target(path)
        if target is None:
            attributes = RequestAttributes(
                verb=method.lower(), api_group="", resource="", path=path
            )
            if not self._authorize(user, attributes):
                raise forbidden(user, attributes)
            raise _not_served()
        verb = _verb(method, target, query)
        attributes = RequestAttributes(
            verb=verb,
            api_group=target.group,
            resource=target.plural,
            subresource=target.subresource,
            namespace=target.namespace,
            name=target.name,
            path=path,
        )
        if not self._authorize(user, attributes):
            raise forbidden(user, attributes)
        resource = resources.lookup(target.group, target.version, target.plural)
        if resource is None:
            raise _not_served()
        request = _Request(method, verb, target, query, headers, body, user)
        return self._resource(resource, request)

    def _non_resource(self, path: str, accept: str) -> Response:
        if path == "/version":
            major, minor = self.kubernetes_version.split(".")[:2]
            return Response(200, _version_info(major, minor))
        if path.startswith(("/healthz", "/livez", "/readyz")):
            return Response(200, "ok")
        if path == "/api":
            return Response(200, resources.api_versions(self.endpoint.removeprefix("https://")))
        if path == "/apis":
            return Response(200, resources.api_group_list())
        if path == "/openapi/v2":
            # No schemas: kubectl, which reads this document only after the v3 one lacks what
            # it looks for (e.g. kind List), then skips client-side validation. kubectl asks
            # for protobuf, where the empty document is zero bytes.
            if OPENAPI_V2_PROTOBUF in accept:
                # Go cannot parse the "@" of the asked-for type; Kubernetes answers with this.
                return Response(200, b"", OPENAPI_V2_PROTOBUF.replace("@", "."))
            return Response(200, resources.openapi_v2_document())
        parts = path.strip("/").split("/")
        document: Obj | None = None
        if path == "/openapi/v3":
            document = resources.openapi_v3_root()
        elif parts[:2] == ["openapi", "v3"] and parts[2:3] == ["api"] and len(parts) == 4:
            document = resources.openapi_v3_document("", parts[3])
        elif parts[:2] == ["openapi", "v3"] and parts[2:3] == ["apis"] and len(parts) == 5:
            document = resources.openapi_v3_document(parts[3], parts[4])
        elif parts[0] == "api" and len(parts) == 2:
            document = resources.api_resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            document = resources.api_group(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = resources.api_resource_list(parts[1], parts[2])
        if document is None:
            raise _not_served()
        return Response(200, document)

    # --- resources -------------------------------------------------------------------------

    def _resource(self, resource: ResourceType, request: _Request) -> Response:
        target = request.target
        # Namespaced kinds are listed across namespaces at the cluster path; nothing else
        # crosses scopes.
        cross_scope = resource.namespaced != bool(target.namespace)
        if (
            cross_scope
            and resource.plural != "namespaces"
            and not (resource.namespaced and request.verb == "list")
        ):
            raise _not_served()
        if request.verb not in resource.verbs and not target.subresource:
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        if not resource.stored:
            return self._review(resource, request)
        if target.subresource:
            return self._subresource(resource, request)
        dry_run = request.query.get("dryRun") == "All"
        namespace = target.namespace if resource.namespaced else ""
        verb = request.verb
        if verb == "get":
            self._before_read(resource, namespace)
            obj = self.store.get(resource.key, namespace, target.name)
            return self._read_response(resource, request, [obj], single=True)
        if verb == "list":
            self._before_read(resource, namespace or None)
            items, version = self.store.list(
                resource.key,
                namespace or None,
                label_selector=request.query.get("labelSelector", ""),
                field_selector=request.query.get("fieldSelector", ""),
            )
            return self._read_response(resource, request, items, version=version)
        if verb == "watch":
            raise ApiError(405, "MethodNotAllowed", "watch is not supported by this server")
        if verb == "create":
            return Response(
                201, self._create(resource, namespace, request.document(), dry_run=dry_run)
            )
        if verb == "update":
            return Response(
                200,
                self._update(resource, namespace, target.name, request.document(), dry_run=dry_run),
            )
        if verb == "patch":
            return self._patch(resource, namespace, request, dry_run=dry_run)
        if verb == "delete":
            options = request.document() if request.body else {}
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            return Response(
                200,
                self._delete(
                    resource, namespace, target.name, options.get("preconditions"), dry_run=dry_run
                ),
            )
        if verb == "deletecollection":
            items, version = self.store.list(
                resource.key,
                namespace or None,
                label_selector=request.query.get("labelSelector", ""),
                field_selector=request.query.get("fieldSelector", ""),
            )
            deleted = [
                self._delete(
                    resource,
                    item["metadata"].get("namespace", ""),
                    item["metadata"]["name"],
                    None,
                    dry_run=dry_run,
                )
                for item in items
            ]
            return Response(200, _list(resource, deleted, version))
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _read_response(
        self,
        resource: ResourceType,
        request: _Request,
        items: list[Obj],
        *,
        single: bool = False,
        version: str = "",
    ) -> Response:
        if "as=Table" in request.headers.get("Accept", ""):
            include = request.query.get("includeObject", "Metadata")
            rows = resources.table(
                resource, items, version or self.store.resource_version, datetime.now(UTC), include
            )
            return Response(200, rows)
        if single:
            return Response(200, items[0])
        return Response(200, _list(resource, items, version))

    def _before_read(self, resource: ResourceType, namespace: str | None) -> None:
        # The disruption controller keeps PDB status current; pods may have changed in the
        # store directly (tests, other emulations), so budgets are recounted before reads.
        if resource.key == eviction.PDBS:
            namespaces = (
                [namespace]
                if namespace
                else sorted({p["metadata"]["namespace"] for p in self.store.list(eviction.PDBS)[0]})
            )
            for name in namespaces:
                eviction.refresh_budgets(self.store, name)

    def _prepare(self, resource: ResourceType, namespace: str, obj: Any) -> Obj:
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be a JSON object")
        resources.check_kind(resource, obj)
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise bad_request("metadata must be an object")
        if resource.namespaced:
            sent = metadata.get("namespace")
            if sent and sent != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        return obj

    def _create(self, resource: ResourceType, namespace: str, body: Any, *, dry_run: bool) -> Obj:
        obj = self._prepare(resource, namespace, body)
        metadata = obj["metadata"]
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + _suffix()
        resources.validate(resource, obj)
        if resource.namespaced and self.store.find("namespaces", "", namespace) is None:
            raise not_found("namespaces", namespace)
        resources.apply_defaults(resource, obj, creating=True)
        self._controlled_status(resource, None, obj)
        created = self.store.create(resource.key, obj, dry_run=dry_run)
        if not dry_run:
            self._after_write(resource, created, creating=True)
        return created

    def _update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        dry_run: bool,
        status_only: bool = False,
    ) -> Obj:
        obj = self._prepare(resource, namespace, body)
        if obj["metadata"].get("name", name) != name:
            raise bad_request(
                f"the name of the object ({obj['metadata']['name']}) does not match the name "
                f"on the URL ({name})"
            )
        obj["metadata"]["name"] = name
        with self.store.locked():
            current = self.store.get(resource.key, namespace, name)
            obj = _with_status_rules(resource, current, obj, status_only=status_only)
            resources.apply_defaults(resource, obj, creating=False)
            resources.validate_content(resource, obj)
            self._controlled_status(resource, current, obj)
            updated = self.store.update(resource.key, obj, dry_run=dry_run)
        if not dry_run:
            self._after_write(resource, updated, creating=False)
        return updated

    def _patch(
        self,
        resource: ResourceType,
        namespace: str,
        request: _Request,
        *,
        dry_run: bool,
        status_only: bool = False,
    ) -> Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        name = request.target.name
        if content_type == patch.APPLY_PATCH:
            try:
                applied = yaml.safe_load(request.body)
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from None
            applied = self._prepare(resource, namespace, applied)
            if applied["metadata"].get("name", name) != name:
                raise bad_request("the name of the object does not match the name on the URL")
            applied["metadata"]["name"] = name
            if not status_only and self.store.find(resource.key, namespace, name) is None:
                return Response(201, self._create(resource, namespace, applied, dry_run=dry_run))
            document: Any = applied
            apply: Callable[[Obj, Any], Obj] = patch.strategic_merge_patch
        else:
            appliers: dict[str, Callable[[Obj, Any], Obj]] = {
                patch.MERGE_PATCH: patch.merge_patch,
                patch.STRATEGIC_MERGE_PATCH: patch.strategic_merge_patch,
                patch.JSON_PATCH: patch.json_patch,
            }
            if content_type not in appliers:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join([*appliers, patch.APPLY_PATCH])}",
                )
            document, apply = _load_json(request.body), appliers[content_type]

        def change(current: Obj) -> Obj:
            patched = apply(current, document)
            if not isinstance(patched, dict):
                raise bad_request("the patch did not produce an object")
            resources.check_kind(resource, patched)
            patched = _with_status_rules(resource, current, patched, status_only=status_only)
            resources.apply_defaults(resource, patched, creating=False)
            resources.validate_content(resource, patched)
            self._controlled_status(resource, current, patched)
            return patched

        updated = self.store.modify(resource.key, namespace, name, change, dry_run=dry_run)
        if not dry_run:
            self._after_write(resource, updated, creating=False)
        return Response(200, updated)

    def _delete(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        preconditions: Any,
        *,
        dry_run: bool,
    ) -> Obj:
        if resource.plural == "namespaces" and name in UNDELETABLE_NAMESPACES:
            raise ApiError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: {PROTECTED_NAMESPACE}',
                details={"name": name, "kind": "namespaces"},
            )
        deleted = self.store.delete(
            resource.key, namespace, name, preconditions=preconditions or None, dry_run=dry_run
        )
        if not dry_run and resource.plural == "pods":
            eviction.refresh_budgets(self.store, namespace)
        return deleted

    def _controlled_status(self, resource: ResourceType, current: Obj | None, obj: Obj) -> None:
        """The status a controller keeps, written with ``obj`` (which replaces ``current``, or is
        new): a PDB's count of its pods, a Deployment's finished rollout."""
        if resource.key == eviction.PDBS:
            obj["status"] = eviction.pdb_status(self.store, obj)
        elif resource.key == resources.DEPLOYMENTS:
            obj["status"] = resources.deployment_status(obj, next_generation(current, obj))

    def _after_write(self, resource: ResourceType, obj: Obj, *, creating: bool) -> None:
        """The controllers' share: what a write sets off in a real cluster."""
        if resource.plural == "pods":
            eviction.refresh_budgets(self.store, obj["metadata"]["namespace"])
        if resource.plural == "namespaces" and creating:
            # The service-account and root-CA publisher controllers fill every new namespace.
            namespace = obj["metadata"]["name"]
            self.store.create(
                "serviceaccounts",
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": namespace},
                },
            )
            self.store.create(
                "configmaps",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "kube-root-ca.crt", "namespace": namespace},
                    "data": {"ca.crt": self.pki.ca_pem.decode("ascii")},
                },
            )

    def _subresource(self, resource: ResourceType, request: _Request) -> Response:
        target = request.target
        namespace = target.namespace if resource.namespaced else ""
        dry_run = request.query.get("dryRun") == "All"
        sub = target.subresource
        if sub == "status" and resource.has_status:
            if request.verb == "get":
                return Response(200, self.store.get(resource.key, namespace, target.name))
            if request.verb == "update":
                return Response(
                    200,
                    self._update(
                        resource,
                        namespace,
                        target.name,
                        request.document(),
                        dry_run=dry_run,
                        status_only=True,
                    ),
                )
            if request.verb == "patch":
                return self._patch(resource, namespace, request, dry_run=dry_run, status_only=True)
        elif (resource.key, sub) == (eviction.PODS, "eviction") and request.verb == "create":
            body = request.document()
            options = (body.get("deleteOptions") if isinstance(body, dict) else None) or {}
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            return Response(
                201, eviction.evict(self.store, namespace, target.name, dry_run=dry_run)
            )
        handler = self.subresource_handlers.get((resource.key, sub))
        if handler is None:
            raise _not_served()
        body = request.document() if request.body else {}
        code, answer = handler(
            SubresourceRequest(
                user=request.user,
                resource=resource,
                namespace=namespace,
                name=target.name,
                subresource=sub,
                verb=request.verb,
                body=body,
                query=request.query,
                store=self.store,
                dry_run=dry_run,
            )
        )
        return Response(code, answer)

    def _review(self, resource: ResourceType, request: _Request) -> Response:
        """SelfSubjectAccessReview (kubectl auth can-i) and SelfSubjectReview (whoami)."""
        body = request.document()
        spec = (body.get("spec") if isinstance(body, dict) else None) or {}
        answer: Obj = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": {}}
        if resource.kind == "SelfSubjectReview":
            user = request.user
            info: Obj = {"username": user.username, "groups": list(user.groups)}
            if user.uid:
                info["uid"] = user.uid
            if user.extra:
                info["extra"] = {k: list(v) for k, v in user.extra.items()}
            return Response(201, {**answer, "status": {"userInfo": info}})
        attributes_doc = spec.get("resourceAttributes")
        if attributes_doc:
            attributes = RequestAttributes(
                verb=attributes_doc.get("verb", ""),
                api_group=attributes_doc.get("group", ""),
                resource=attributes_doc.get("resource", ""),
                subresource=attributes_doc.get("subresource", ""),
                namespace=attributes_doc.get("namespace", ""),
                name=attributes_doc.get("name", ""),
            )
        elif spec.get("nonResourceAttributes"):
            other = spec["nonResourceAttributes"]
            attributes = RequestAttributes(
                verb=other.get("verb", ""), api_group="", resource="", path=other.get("path", "")
            )
        else:
            raise resources.invalid(
                resource.key,
                resource.kind,
                "",
                [
                    "spec: Invalid value: exactly one of nonResourceAttributes or "
                    "resourceAttributes must be specified"
                ],
            )
        allowed = self._authorize(request.user, attributes)
        return Response(201, {**answer, "spec": spec, "status": {"allowed": allowed}})


@dataclass(frozen=True)
class _Request:
    method: str
    verb: str
    target: _Target
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    user: UserInfo

    def document(self) -> Any:
        """The body of a create, update or subresource request: JSON, or protobuf as
        kubectl's typed clients send it."""
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == "application/vnd.kubernetes.protobuf":
            return resources.decode_protobuf(self.body)
        if content_type and content_type not in ("application/json", "application/yaml", "*/*"):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
            )
        if content_type == "application/yaml":
            try:
                return yaml.safe_load(self.body)
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from None
        return _load_json(self.body)


def _target(path: str) -> _Target | None:
    return _parse_resource_path(path.strip("/").split("/"))


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _list(resource: ResourceType, items: list[Obj], version: str) -> Obj:
    return {
        "kind": f"{resource.kind}List",
        "apiVersion": resource.api_version,
        "metadata": {"resourceVersion": version},
        "items": items,
    }


def _with_status_rules(resource: ResourceType, current: Obj, new: Obj, *, status_only: bool) -> Obj:
    """Kinds with a status subresource: the main resource cannot change status and the status
    subresource can change nothing else (Kubernetes' PrepareForUpdate)."""
    if not resource.has_status:
        return new
    if status_only:
        metadata = {**current["metadata"]}
        if new.get("metadata", {}).get("resourceVersion"):
            metadata["resourceVersion"] = new["metadata"]["resourceVersion"]
        return {**current, "metadata": metadata, "status": new.get("status") or {}}
    result = {k: v for k, v in new.items() if k != "status"}
    if "status" in current:
        result["status"] = current["status"]
    return result


def _version_info(major: str, minor: str) -> Obj:
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{major}.{minor}.0",
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


# --- HTTP ------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: KubeApiServer, context: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the connection's own thread, so one slow or
        # broken client cannot stall the accept loop.
        request.settimeout(CONNECTION_TIMEOUT_SECONDS)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-request are routine; nothing to print.
        logger.debug(
            "kube-api connection from %s ended with an error", client_address, exc_info=True
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        shown = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        logger.debug("REQ %s %s %s", self.command, self.path, shown)  # no bearer tokens
        body = self.rfile.read(length) if length else b""
        headers = {name: value for name, value in self.headers.items()}
        faults = self.server.api.faults
        fault = faults.decide("kube", self.headers.get("User-Agent", "")) if faults else None
        extra: dict[str, str] = {}
        if fault is None:
            response = self.server.api.handle(self.command, self.path, headers, body)
        else:  # before the request takes effect, unless an after-effect 5xx
            from eksops.local import fault_injection

            if fault.kind == "connection":
                fault_injection.drop_connection(self.connection, fault)
                self.close_connection = True
                return
            if fault.after_effect:
                self.server.api.handle(self.command, self.path, headers, body)
            code, extra, status = fault_injection.kube_response(fault)
            response = Response(code, status)
        payload, content_type = response.payload()
        self.send_response(response.code)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        # Request lines carry no secrets, but a server per cluster would flood test output.
        logger.debug("kube-api: " + format, *args)


@dataclass
class _Headers(Mapping[str, str]):
    """Case-insensitive header lookup, as HTTP header names are."""

    raw: dict[str, str]
    _folded: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self._folded = {k.lower(): v for k, v in self.raw.items()}

    def __getitem__(self, key: str) -> str:
        return self._folded[key.lower()]

    def __iter__(self) -> Any:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def get(self, key: str, default: Any = None) -> Any:
        return self._folded.get(key.lower(), default)
