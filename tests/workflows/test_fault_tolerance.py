"""SetupIrsaStateMachine with 20 % of its steps' AWS and Kubernetes calls failing (throttling,
5xx, dropped connections; the offline account's fault injector): botocore's retries, the
Kubernetes session's and the state machine's Retry carry it to the same end state as without
faults. `benchmarks/fault_tolerance.py` measures the same over many runs of every workflow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eksops.local.account import ACCOUNT_ID, OfflineAccount
from eksops.service_account_binding import ROLE_ARN_ANNOTATION

from tests.support.lifecycle import create, run, vpc_subnets

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
CLUSTER = "faulty"


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    with OfflineAccount(
        region=REGION,
        template=ROOT / "template.yaml",
        time_scale=0.02,
        eks_delay=0.5,
        fault_rate=0.0,  # the cluster is made without faults; the test turns them on
        fault_seed=3,
    ) as offline:
        subnets = vpc_subnets(offline.client("ec2"), 3, "ab", REGION)
        request = {
            "clusterName": CLUSTER,
            "kubernetesVersion": "1.31",
            "vpc": {"subnetIds": subnets},
        }
        created = create(offline, f"create-{CLUSTER}", request)
        assert created.status == "SUCCEEDED", created
        yield offline


def test_setup_irsa_succeeds_with_a_fifth_of_its_calls_failing(account: OfflineAccount) -> None:
    faults = account.faults
    faults.rate = 0.2
    try:
        done = [
            run(
                account,
                "SetupIrsaStateMachine",
                f"faulty-{name}",
                {"clusterName": CLUSTER, "namespace": "apps", "serviceAccount": name},
            )
            for name in ("api",)
        ]
    finally:
        faults.rate = 0.0
    stats = faults.stats()
    for execution in done:
        assert execution.status == "SUCCEEDED", (execution, stats)
        assert execution.output["verified"] is True, execution.output
    # faults were injected into both kinds of calls the steps make, and survived
    assert stats["calls"]["aws"] > 0
    assert stats["calls"]["kube"] > 0
    assert stats["injected"] >= 1, stats
    store = account._cluster_apis.server(ACCOUNT_ID, REGION, CLUSTER).store
    for name in ("api",):
        account_object = store.find("serviceaccounts", "apps", name)
        assert account_object is not None
        role = account_object["metadata"]["annotations"][ROLE_ARN_ANNOTATION]
        assert role.endswith(f"/{CLUSTER}-apps-{name}-irsa")
    roles = account.client("iam").list_roles(PathPrefix="/eksops/irsa/")["Roles"]
    assert [r["RoleName"] for r in roles] == [f"{CLUSTER}-apps-api-irsa"]  # nothing made twice
