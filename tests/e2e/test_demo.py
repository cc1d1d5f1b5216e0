"""`make demo` runs `eksops local demo`: it must keep working, with nothing of the user's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_offline_without_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE", "EKSOPS"))}
    env["HOME"] = str(tmp_path)  # a user cache or kubeconfig written here would be a leak
    demo = subprocess.run(
        [str(Path(sys.executable).with_name("eksops")), "local", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-2000:]
    lines = demo.stdout.splitlines()
    steps = (
        "1. `eksops local up`",
        "2. `eksops run CreateClusterStateMachine",
        "3. `eksops token",
        "4. `eksops kubeconfig --cluster-name demo --region us-west-2`",  # the workflow's output
        "5. KubeconfigFunction",
        "6. Remediation: EC2 recommends rebalancing",
        "7. `eksops run DeleteClusterStateMachine",
    )
    at = [next((i for i, line in enumerate(lines) if line.startswith(s)), -1) for s in steps]
    where = dict(zip(steps, at, strict=True))
    assert -1 not in at, where
    assert at == sorted(at), where  # in order
    create, delete = "\n".join(lines[at[1] : at[2]]), "\n".join(lines[at[6] :])
    rebalance = "\n".join(lines[at[5] : at[6]])

    # the cluster is made by the workflow, followed live as `eksops run` follows it
    assert "wait  WaitForClusterActive: 5 s" in create
    assert "enter CheckClusterStatus (Task)" in create
    assert "parallel SetUpClusterAccess: 3 branches" in create
    assert "SUCCEEDED after" in create
    assert "cluster ARN      arn:aws:eks:us-west-2:123456789012:cluster/demo" in create
    assert "OIDC provider    arn:aws:iam::123456789012:oidc-provider/oidc.eks." in create
    assert "kubeconfig       eksops kubeconfig --cluster-name demo --region us-west-2" in create
    assert "SUCCEEDED (exit 0), same cluster: yes; clusters in the account: ['demo']" in create

    start = lines.index("{", at[2])  # the ExecCredential printed in step 3
    credential = json.loads("\n".join(lines[start : lines.index("}", start) + 1]))
    assert credential["status"]["token"].startswith("k8s-aws-v1.")
    assert credential["status"]["token"].endswith(" more characters>")  # not the token itself
    # kubectl through an EKS token, as the admin the workflow granted
    assert "kubectl auth can-i '*' '*': yes" in demo.stdout
    # the node groups CreateCluster joined, one per AZ, their nodes Ready
    for zone in ("us-west-2a", "us-west-2b", "us-west-2c"):
        node = next(line for line in lines if line.endswith(f"{zone}   general-{zone}"))
        assert " Ready " in node, node
    # the IRSA binding CreateCluster ran: verified, and the ServiceAccount kubectl reads
    role = "arn:aws:iam::123456789012:role/eksops/irsa/demo-external-dns-external-dns-irsa"
    assert f"IRSA             external-dns/external-dns -> {role}" in create
    assert "verified: True (a token of system:serviceaccount:external-dns:external-dns" in create
    assert f'"eks.amazonaws.com/role-arn":"{role}"' in demo.stdout
    assert "-> eksops.InvalidInput: cluster name 'not a name'" in demo.stdout

    # a rebalance recommendation sent twice: one execution, a replacement first, one pod evicted
    assert "SUCCEEDED (1 execution for two events)" in rebalance
    assert "node group general-us-west-2a (us-west-2a) grows by one first" in rebalance
    assert "shop/api-0: evicted" in rebalance
    assert "terminating (desired capacity decremented)" in rebalance

    assert "SUCCEEDED after" in delete
    assert "clusters left in the account: []" in delete
    assert "Done in" in demo.stdout
    assert list(tmp_path.iterdir()) == []
