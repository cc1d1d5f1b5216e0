"""The decisions behind CreateCluster and DeleteCluster, without AWS: poll intervals, how an
existing cluster differs, aws-auth merges, and which resources are eksops's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from eksops import aws_auth
from eksops.admin_access import without_path
from eksops.cluster_spec import create_parameters, differences
from eksops.cluster_steps import kubeconfig_command
from eksops.errors import WaitTimeoutError
from eksops.models.base import parse_event
from eksops.models.create_cluster import CreateClusterInput
from eksops.ownership import CLUSTER_TAG, CREATED_BY_TAG, owned
from eksops.polling import MAX_SECONDS, MIN_SECONDS, Poll, next_poll
from kubernetes.client.exceptions import ApiException

EVENTS = Path(__file__).resolve().parents[2] / "events" / "create_cluster"
FULL = parse_event(CreateClusterInput, json.loads((EVENTS / "full.json").read_text()))
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:CreateCluster:run-1"
ROLE = "arn:aws:iam::210987654321:role/eksops/prod-eu-cluster-role"


def test_polls_start_short_grow_with_the_wait_and_stay_capped() -> None:
    poll, intervals = None, []
    while poll is None or poll.waited < 3600:
        poll = next_poll(poll, "x", limit_seconds=10_000)
        intervals.append(poll.seconds)
    assert intervals[0] == MIN_SECONDS
    assert intervals == sorted(intervals), "intervals never shrink"
    assert max(intervals) == MAX_SECONDS
    # noticed late by at most the next interval: within 15% of the time waited once past a minute
    poll = None
    while poll is None or poll.waited < 3600:
        poll = next_poll(poll, "x", limit_seconds=10_000)
        if poll.waited >= 60:
            assert poll.seconds <= 0.15 * poll.waited
    assert poll.attempt == len(intervals)


def test_polls_end_with_a_named_timeout() -> None:
    with pytest.raises(WaitTimeoutError, match="cluster c is still not ready after 30 s"):
        next_poll(Poll(attempt=3, waited=30, seconds=5), "cluster c", limit_seconds=30)


def _described(**changes: Any) -> dict[str, Any]:
    """DescribeCluster's answer for the cluster FULL creates."""
    parameters = create_parameters(FULL, ROLE, EXECUTION)
    cluster = {
        "name": parameters["name"],
        "version": parameters["version"],
        "roleArn": ROLE,
        "status": "ACTIVE",
        "resourcesVpcConfig": {
            **parameters["resourcesVpcConfig"],
            "clusterSecurityGroupId": "sg-1",
        },
        "accessConfig": {"authenticationMode": FULL.authentication_mode},
        "logging": {
            "clusterLogging": [{"types": ["audit", "api", "authenticator"], "enabled": True}]
        },
        "encryptionConfig": parameters["encryptionConfig"],
        "tags": parameters["tags"],
    }
    cluster.update(changes)
    return cluster


def test_an_identical_cluster_has_no_differences() -> None:
    assert differences(_described(), FULL, ROLE) == []


def test_every_difference_is_listed_with_both_values() -> None:
    cluster = _described(version="1.30", roleArn="arn:aws:iam::210987654321:role/other")
    cluster["resourcesVpcConfig"]["endpointPrivateAccess"] = False
    found = differences(cluster, FULL, ROLE)
    assert found == [
        "kubernetesVersion: the cluster has '1.30', the input asks for '1.31'",
        "vpc.endpointPrivateAccess: the cluster has False, the input asks for True",
        f"roleArn: the cluster has 'arn:aws:iam::210987654321:role/other', the input asks for "
        f"'{ROLE}'",
    ]
    assert "roleArn" not in " ".join(differences(cluster, FULL, None)), "role not chosen yet"


def test_default_public_cidrs_are_no_difference() -> None:
    minimal = FULL.model_copy(
        update={"vpc": FULL.vpc.model_copy(update={"public_access_cidrs": None})}
    )
    cluster = _described()
    cluster["resourcesVpcConfig"]["publicAccessCidrs"] = ["0.0.0.0/0"]
    assert differences(cluster, minimal, ROLE) == []


def test_create_parameters_tag_the_cluster_and_keep_the_creator_admin() -> None:
    parameters = create_parameters(FULL, ROLE, EXECUTION)
    assert parameters["tags"] == {
        "team": "platform",
        "cost-center": "1234",
        CLUSTER_TAG: "prod-eu",
        CREATED_BY_TAG: EXECUTION,
    }
    assert parameters["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True
    assert len(parameters["clientRequestToken"]) <= 64


def test_kubeconfig_command_names_the_target_role() -> None:
    assert kubeconfig_command(FULL, "eu-west-1") == (
        "eksops kubeconfig --cluster-name prod-eu --region eu-west-1 "
        "--role-arn arn:aws:iam::210987654321:role/eksops-target"
    )


def test_ownership_needs_the_cluster_tag_and_for_rollbacks_the_execution() -> None:
    tags = {CLUSTER_TAG: "c", CREATED_BY_TAG: EXECUTION}
    assert owned(tags, "c", None)
    assert owned(tags, "c", EXECUTION)
    assert not owned(tags, "c", EXECUTION + "-other")
    assert not owned(tags, "other", None)
    assert not owned({}, "c", None)


def test_aws_auth_role_arns_lose_their_path() -> None:
    assert without_path("arn:aws:iam::1:role/a/b/admins") == "arn:aws:iam::1:role/admins"
    assert without_path("arn:aws:iam::1:user/ops/alice") == "arn:aws:iam::1:user/alice"


NODE_ROLES = yaml.safe_dump(
    [
        {
            "rolearn": "arn:aws:iam::1:role/nodes",
            "username": "system:node:{{EC2PrivateDNSName}}",
            "groups": ["system:bootstrappers", "system:nodes"],
        }
    ]
)
ADMIN = aws_auth.Mapping("arn:aws:iam::1:role/admins", "admins", ("system:masters",))


def test_merge_adds_a_mapping_and_keeps_everything_else() -> None:
    data = {"mapRoles": NODE_ROLES, "mapAccounts": "- '111122223333'\n"}
    merged, changes = aws_auth.merged(data, [ADMIN])
    assert [c.result() for c in changes] == [
        {
            "section": "mapRoles",
            "rolearn": ADMIN.arn,
            "change": "added",
            "username": "admins",
            "groups": ["system:masters"],
        }
    ]
    roles = yaml.safe_load(merged["mapRoles"])
    assert roles[0] == yaml.safe_load(NODE_ROLES)[0]
    assert roles[1] == {"rolearn": ADMIN.arn, "username": "admins", "groups": ["system:masters"]}
    assert merged["mapAccounts"] == data["mapAccounts"]
    assert aws_auth.merged(merged, [ADMIN]) == (merged, []), "merging again changes nothing"


def test_merge_adds_missing_groups_but_keeps_the_existing_username() -> None:
    existing = yaml.safe_dump([{"rolearn": ADMIN.arn, "username": "ops", "groups": ["viewers"]}])
    merged, changes = aws_auth.merged({"mapRoles": existing}, [ADMIN])
    assert [(c.new, c.groups_added) for c in changes] == [(False, ("system:masters",))]
    assert yaml.safe_load(merged["mapRoles"]) == [
        {"rolearn": ADMIN.arn, "username": "ops", "groups": ["viewers", "system:masters"]}
    ]


def test_users_go_to_map_users() -> None:
    user = aws_auth.Mapping("arn:aws:iam::1:user/alice", "alice", ("system:masters",))
    merged, _ = aws_auth.merged({}, [user])
    assert yaml.safe_load(merged["mapUsers"])[0]["userarn"] == user.arn


def test_unparsable_aws_auth_is_a_named_error_not_an_overwrite() -> None:
    with pytest.raises(aws_auth.AwsAuthError, match="mapRoles is not valid YAML"):
        aws_auth.merged({"mapRoles": "- rolearn: [unclosed"}, [ADMIN])


class FakeCoreV1:
    """aws-auth in a fake API server: 409 when the resourceVersion is stale, as Kubernetes."""

    def __init__(self, data: dict[str, str] | None, conflicts: int = 0) -> None:
        self.data = data
        self.version = 1
        self.conflicts = conflicts
        self.writes = 0

    def read_namespaced_config_map(self, name: str, namespace: str) -> Any:
        if self.data is None:
            raise ApiException(status=404)
        return SimpleNamespace(
            data=dict(self.data), metadata=SimpleNamespace(resource_version=str(self.version))
        )

    def replace_namespaced_config_map(self, name: str, namespace: str, body: Any) -> None:
        if self.conflicts:  # someone else wrote in between
            self.conflicts -= 1
            self.version += 1
            raise ApiException(status=409)
        assert body.metadata.resource_version == str(self.version)
        self.data, self.version, self.writes = body.data, self.version + 1, self.writes + 1

    def create_namespaced_config_map(self, namespace: str, body: Any) -> None:
        self.data, self.writes = body.data, self.writes + 1


def test_merge_retries_on_conflict_from_the_new_content() -> None:
    core = FakeCoreV1({"mapRoles": NODE_ROLES}, conflicts=2)
    pauses: list[float] = []
    assert aws_auth.merge_mappings(core, [ADMIN], sleep=pauses.append, jitter=lambda: 1.0)
    assert pauses == [0.05, 0.1], "exponential backoff (full jitter: random() times this)"
    assert core.writes == 1
    assert len(yaml.safe_load(core.data["mapRoles"])) == 2


def test_merge_gives_up_with_a_named_error_after_constant_conflicts() -> None:
    core = FakeCoreV1({"mapRoles": NODE_ROLES}, conflicts=99)
    with pytest.raises(aws_auth.AwsAuthConflictError, match="changed under every one"):
        aws_auth.merge_mappings(core, [ADMIN], sleep=lambda _: None)
    assert core.writes == 0


def test_missing_aws_auth_is_created_and_an_unchanged_one_not_written() -> None:
    core = FakeCoreV1(None)
    assert aws_auth.merge_mappings(core, [ADMIN])
    assert core.writes == 1
    assert aws_auth.merge_mappings(core, [ADMIN]) == []
    assert core.writes == 1
