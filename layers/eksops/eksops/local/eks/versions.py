"""DescribeClusterVersions, which moto lacks: the Kubernetes versions the offline EKS offers
(those its add-on catalogue covers, from 1.28), the newest but one as the default, as AWS does."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult

from eksops.local.eks._state import paginate
from eksops.local.eks.addons import MINORS
from eksops.local.eks.control_plane import DEFAULT_VERSION

OFFERED = tuple(v for v in MINORS if int(v[2:]) >= 28)


def _information(version: str) -> dict[str, Any]:
    status = "STANDARD_SUPPORT" if version >= OFFERED[-3] else "EXTENDED_SUPPORT"
    return {
        "clusterVersion": version,
        "clusterType": "eks",
        "defaultPlatformVersion": "eks.1",
        "defaultVersion": version == DEFAULT_VERSION,
        "status": status,
        "versionStatus": status,
        "kubernetesPatchVersion": f"{version}.0",
    }


def describe_cluster_versions(self: Any) -> ActionResult:
    wanted = self.querystring.get("clusterVersions")
    default_only = self._get_param("defaultOnly") in ("true", True)
    infos = [
        _information(version)
        for version in reversed(OFFERED)
        if (not wanted or version in wanted) and (not default_only or version == DEFAULT_VERSION)
    ]
    page, token = paginate(infos, self._get_param("maxResults"), self._get_param("nextToken"))
    return ActionResult({"clusterVersions": page, "nextToken": token})


RESPONSES = {"describe_cluster_versions": describe_cluster_versions}
URL_PATHS = {"{0}/cluster-versions$"}
