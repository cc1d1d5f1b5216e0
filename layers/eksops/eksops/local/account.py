"""The offline account: moto served on 127.0.0.1, adapted to behave like AWS, with the
project's template deployed.

Use it as a context manager (tests, the demo) or through `eksops local up`. One account per
process: moto's backends are process-wide.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from eksops.local.deploy import Deployment, deploy
from eksops.local.template import TEMPLATE

ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_STACK = "eksops"  # samconfig.toml's default stack name
# Any key works offline; these make clear nothing real is used.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline"}
# Run state machines for real. Lambda keeps moto's default ("use_docker"): with it off, moto
# swaps in a backend that answers every invoke with a canned string; lambda_runtime replaces
# the Docker path itself instead.
# A real account has every AWS managed policy (AmazonEKSClusterPolicy, ...); moto loads them on request.
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "iam": {"load_aws_managed_policies": True},
}


def _server(operations: dict[str, Any], port: int) -> Any:
    """moto's threaded server with the /_eksops/ control operations in front of it."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from eksops.local.control import ControlApp

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = ControlApp(DomainDispatcherApplication(create_backend_app), operations)
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return Server(ip_address="127.0.0.1", port=port, verbose=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OfflineAccount:
    def __init__(
        self,
        port: int = 0,
        region: str = "us-east-1",
        template: Path | None = TEMPLATE,
        stack_name: str = DEFAULT_STACK,
        parameters: dict[str, str] | None = None,
        time_scale: float = 1.0,
        eks_delay: float = 3.0,
    ) -> None:
        self.port = port or _free_port()
        self.time_scale = time_scale
        self.eks_delay = eks_delay  # seconds an EKS cluster, node group or add-on takes to change
        self.region = region
        self.template = template
        self.stack_name = stack_name
        self.parameters = parameters or {}
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.deployment: Deployment | None = None
        self._server: Any = None
        self._runtime: Any = None
        self._cluster_apis: Any = None
        self._nodes: Any = None  # nodes.NodeReconciler

    @property
    def environment(self) -> dict[str, str]:
        """What clients (AWS CLI, boto3, eksops, kubectl's exec plugin) need to use it."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **CREDENTIALS,
        }

    def session(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.region,
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)

    def start(self) -> Self:
        import os

        from moto.core.config import default_user_config

        from eksops.local import (
            cluster_apis,
            eks,
            events,
            lambda_runtime,
            moto_fixes,
            nodes,
            sfn_sdk,
            sfn_time,
            sts_presigned,
            sts_web_identity,
        )

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

        # moto's Step Functions interpreter calls services at localhost:MOTO_PORT
        os.environ["MOTO_PORT"] = str(self.port)
        for section, values in MOTO_CONFIG.items():
            default_user_config.setdefault(section, {}).update(values)  # type: ignore[misc]
        moto_fixes.install()
        sfn_sdk.install()
        sfn_time.install(self.time_scale)
        sts_presigned.install()
        sts_web_identity.install()
        eks.install(self.eks_delay)
        self._cluster_apis = cluster_apis.ClusterApis(self.endpoint_url)
        cluster_apis.install(self._cluster_apis)
        # EC2 instances of node groups register as Nodes (and the node join check is theirs)
        self._nodes = nodes.NodeReconciler(self._cluster_apis, self.eks_delay).start()
        events.install()
        self._runtime = lambda_runtime.install(self.endpoint_url)
        self._server = _server({"fire-schedule": self._fire_schedule}, self.port)
        self._server.start()
        if self.template is not None:
            self.deployment = self.deploy(self.template)
        return self

    def deploy(
        self,
        template: Path,
        stack_name: str | None = None,
        parameters: dict[str, str] | None = None,
    ) -> Deployment:
        """Deploy a SAM template into the account (the project's, as `eksops`, by default)."""
        if stack_name is None:
            stack_name, parameters = self.stack_name, self.parameters
        return deploy(self.client, self.region, template, stack_name, parameters)

    def _fire_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """Fire a scheduled rule, named as in EventBridge or by its template logical ID."""
        from eksops.local import events

        rule = request["rule"]
        if self.deployment is not None and rule in self.deployment.resources:
            rule = self.deployment.resources[rule]
        bus = request.get("eventBus", "default")
        targets = events.fire_schedule(rule, bus, ACCOUNT_ID, self.region)
        return {"rule": rule, "targets": targets}

    def resource(self, logical_id: str) -> str:
        """The physical ID of a resource of the deployed stack."""
        assert self.deployment is not None, "no template deployed"
        return self.deployment.resources[logical_id]

    def stop(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        from eksops.local import cluster_apis, eks, sfn_time

        if self._nodes is not None:  # first: it reads the backends and API servers below
            self._nodes.stop()
            self._nodes = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
        if self._cluster_apis is not None:
            cluster_apis.uninstall()
            self._cluster_apis.close()
            self._cluster_apis = None
        eks.install(0)  # what follows in this process sees moto's instant EKS
        moto_api_backend.reset()  # the next account starts empty, as a new AWS account would
        sfn_time.install(1.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
