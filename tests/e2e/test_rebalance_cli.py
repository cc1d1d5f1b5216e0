"""Issue 9 acceptance, as an operator sees it against `eksops local up`: a rebalance
recommendation sent twice (AWS CLI `events put-events`) for a node whose pod a
PodDisruptionBudget covers drains it once; kubectl shows that pod evicted, the others untouched,
and a Ready replacement node in the same zone."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.local_up import LocalUp

CLUSTER = "e2e-rebalance"
MACHINE = "RebalanceNodegroupsStateMachine"
ZONE_LABEL = "topology.kubernetes.io/zone"


@pytest.fixture(scope="module")
def workers(local_up: LocalUp, operator: dict[str, str]) -> list[str]:
    """A cluster with per-AZ node groups workers-<az> of one node each; their names."""
    subnets = local_up.subnets(41, "abc")
    created = local_up.run_workflow(
        "CreateClusterStateMachine",
        {
            "clusterName": CLUSTER,
            "kubernetesVersion": "1.31",
            "vpc": {"subnetIds": subnets},
            "admins": [{"principalArn": operator["arn"]}],
        },
    )
    assert created.returncode == 0, created.stdout + created.stderr
    joined = local_up.run_workflow(
        "JoinNodegroupStateMachine",
        {
            "clusterName": CLUSTER,
            "kind": "managed",
            "name": "workers",
            "subnetIds": subnets,
            "perAz": True,
            "scaling": {"minSize": 1, "maxSize": 3, "desiredSize": 1},
        },
        "--json",
    )
    assert joined.returncode == 0, joined.stdout + joined.stderr
    return [ng["name"] for ng in json.loads(joined.stdout)["output"]["nodegroups"]]


def kubectl(local_up: LocalUp, operator: dict[str, str], *args: str) -> str:
    return local_up.kubectl_as(operator, CLUSTER, *args)


def nodes(local_up: LocalUp, operator: dict[str, str]) -> list[dict]:
    return json.loads(kubectl(local_up, operator, "get", "nodes", "-o", "json"))["items"]


def ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def apply(local_up: LocalUp, operator: dict[str, str], manifest: dict, name: str) -> None:
    path = local_up.work / f"{name}.json"
    path.write_text(json.dumps(manifest))
    kubectl(local_up, operator, "apply", "-f", str(path))


def test_a_rebalance_recommendation_sent_twice_drains_once_and_replaces_in_the_zone(
    local_up: LocalUp, operator: dict[str, str], workers: list[str]
) -> None:
    by_group = {
        n["metadata"]["labels"]["eks.amazonaws.com/nodegroup"]: n for n in nodes(local_up, operator)
    }
    target, other = by_group[workers[0]], by_group[workers[1]]
    instance_id = target["spec"]["providerID"].rsplit("/", 1)[1]
    zone = target["metadata"]["labels"][ZONE_LABEL]
    kubectl(local_up, operator, "create", "namespace", "shop")
    for name, node in (("api-0", target), ("api-1", other), ("web-0", other)):
        app = name.split("-")[0]
        apply(
            local_up,
            operator,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
                "spec": {
                    "nodeName": node["metadata"]["name"],
                    "containers": [{"name": app, "image": "nginx"}],
                },
            },
            name,
        )
    apply(
        local_up,
        operator,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "api"}}},
        },
        "pdb",
    )
    entry = {
        "Source": "aws.ec2",
        "DetailType": "EC2 Instance Rebalance Recommendation",
        "Detail": json.dumps({"instance-id": instance_id}),
    }
    for _ in range(2):
        sent = local_up.aws("events", "put-events", "--entries", json.dumps([entry]))
        assert sent["FailedEntryCount"] == 0, sent

    machine = local_up.aws("stepfunctions", "list-state-machines")["stateMachines"]
    arn = next(m["stateMachineArn"] for m in machine if MACHINE in m["name"])
    name = f"rebalance-recommendation-{instance_id}"

    def started() -> list[dict]:
        listed = local_up.aws("stepfunctions", "list-executions", "--state-machine-arn", arn)
        return [e for e in listed["executions"] if e["name"] == name]

    (execution,) = local_up.until(started, "the execution the signal started")
    described = local_up.until(
        lambda: (
            (
                d := local_up.aws(
                    "stepfunctions",
                    "describe-execution",
                    "--execution-arn",
                    execution["executionArn"],
                )
            )["status"]
            != "RUNNING"
            and d
        ),
        "the end of the drain",
    )
    assert described["status"] == "SUCCEEDED", described
    time.sleep(1)  # the second delivery has been routed by now
    assert len(started()) == 1

    pods = json.loads(kubectl(local_up, operator, "get", "pods", "-n", "shop", "-o", "json"))
    assert {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods["items"]} == {
        "api-1": other["metadata"]["name"],
        "web-0": other["metadata"]["name"],
    }
    replacement = local_up.until(
        lambda: [
            n
            for n in nodes(local_up, operator)
            if n["metadata"]["labels"]["eks.amazonaws.com/nodegroup"] == workers[0]
            and n["metadata"]["name"] != target["metadata"]["name"]
            and ready(n)
        ],
        "a Ready replacement node",
    )
    assert [n["metadata"]["labels"][ZONE_LABEL] for n in replacement] == [zone]
