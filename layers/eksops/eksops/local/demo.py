"""`eksops local demo`: what eksops does today, end to end, on the offline account.

Needs no AWS account and no credentials: the offline account plays AWS, and nothing of the
caller's AWS configuration, kubeconfig or token cache is read or written. Time runs scaled
(TIME_SCALE): Wait states, retries and EKS's state changes pass 20 times faster than on AWS.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO
from unittest import mock
from urllib.parse import parse_qs, urlsplit

CLUSTER = "demo"
REGION = "us-west-2"
TIME_SCALE = 0.05  # a 5 s Wait state takes 0.25 s
EKS_SECONDS = 40  # simulated seconds EKS takes to create (or delete) the cluster and add-ons
ZONE_LABEL = "topology.kubernetes.io/zone"
ADMIN_USER = "demo-admin"  # the IAM user the demo runs as, made the cluster's administrator
EXISTING_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: []
contexts:
- name: existing
  context: {cluster: other, user: other}
users: []
current-context: existing
"""


def cluster_request(
    name: str, subnets: list[str], admins: list[str] | None = None
) -> dict[str, Any]:
    """The demo's cluster: a managed node group per zone, the VPC CNI, one IRSA binding."""
    request: dict[str, Any] = {
        "clusterName": name,
        "kubernetesVersion": "1.31",
        "vpc": {"subnetIds": subnets},
    }
    if admins:
        request["admins"] = [{"principalArn": arn} for arn in admins]
    return request | {
        "addons": [{"name": "vpc-cni"}],
        "nodegroups": [
            {
                "kind": "managed",
                "name": "general",
                "subnetIds": subnets,
                "perAz": True,
                "scaling": {"minSize": 1, "maxSize": 3, "desiredSize": 1},
            }
        ],
        "irsa": [
            {
                "namespace": "external-dns",
                "serviceAccount": "external-dns",
                "policyArns": ["arn:aws:iam::aws:policy/AmazonRoute53ReadOnlyAccess"],
            }
        ],
        "tags": {"team": "platform"},
    }


@contextmanager
def _isolated_environment(environment: dict[str, str]) -> Iterator[Path]:
    """The offline account's environment, and a private home for config, caches and output."""
    with tempfile.TemporaryDirectory() as home:
        kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
        private = {
            "HOME": home,
            "AWS_CONFIG_FILE": f"{home}/config",
            "AWS_SHARED_CREDENTIALS_FILE": f"{home}/credentials",
            "EKSOPS_CACHE_DIR": f"{home}/cache",
        }
        with mock.patch.dict(os.environ, {**kept, **environment, **private}, clear=True):
            yield Path(home)


def _kubectl(kubeconfig: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return "(kubectl not found: skipped)"
    return (done.stdout if done.returncode == 0 else done.stderr).rstrip()


def _subnets(account: Any) -> list[str]:
    """A VPC with a subnet in each of three AZs (EKS requires two; a node group per AZ)."""
    ec2 = account.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate("abc")
    ]


def _admin_credentials(account: Any) -> tuple[str, dict[str, str]]:
    """An IAM user and its access keys: who runs the rest of the demo, as an operator would."""
    iam = account.client("iam")
    arn = iam.create_user(UserName=ADMIN_USER)["User"]["Arn"]
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    return arn, {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def _eksops_run(workflow: str, input_file: Path, name: str, out: TextIO, *extra: str) -> int:
    """`eksops run WORKFLOW --input FILE --name NAME`, printing to ``out``."""
    from eksops import workflow_run
    from eksops.cli import build_parser

    argv = ["run", workflow, "--input", str(input_file), "--name", name, *extra]
    return workflow_run.run(build_parser().parse_args(argv), stdout=out, stderr=out)


def _execution_arn(account: Any, workflow: str, name: str) -> str:
    from eksops.workflow_run import execution_arn_for

    return execution_arn_for(account.resource(workflow), name)


def _rebalance(account: Any, kubeconfig: Path, home: Path, say: Callable[[str], None]) -> int:
    """A rebalance recommendation, sent twice, for a node whose pod a budget covers."""
    nodes = json.loads(_kubectl(kubeconfig, "get", "nodes", "-o", "json"))["items"]
    target, other = sorted(nodes, key=lambda n: n["metadata"]["labels"][ZONE_LABEL])[:2]
    instance_id = target["spec"]["providerID"].rsplit("/", 1)[1]
    zone = target["metadata"]["labels"][ZONE_LABEL]
    manifests: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "api"}}},
        },
    ]
    for name, node in (("api-0", target), ("api-1", other), ("web-0", other)):
        app = name.split("-")[0]
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
                "spec": {
                    "nodeName": node["metadata"]["name"],
                    "containers": [{"name": app, "image": "nginx"}],
                },
            }
        )
    shop = home / "shop.json"
    shop.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
    _kubectl(kubeconfig, "apply", "-f", str(shop))
    say(
        f"\n6. Remediation: EC2 recommends rebalancing {instance_id} ({zone}); the event, put on"
        "\n   the bus twice, reaches RouteRebalanceSignalFunction, which starts one"
        "\n   RebalanceNodegroupsStateMachine execution. The pods, api under a budget of"
        "\n   minAvailable 1:"
    )
    say(_kubectl(kubeconfig, "get", "pods", "-n", "shop", "-o", "wide").rstrip())
    entry = {
        "Source": "aws.ec2",
        "DetailType": "EC2 Instance Rebalance Recommendation",
        "Detail": json.dumps({"instance-id": instance_id}),
    }
    for _ in range(2):
        account.client("events").put_events(Entries=[entry])
    sfn, name = account.client("stepfunctions"), f"rebalance-recommendation-{instance_id}"
    machine = account.resource("RebalanceNodegroupsStateMachine")
    deadline = time.monotonic() + 180
    done: dict[str, Any] = {}
    while time.monotonic() < deadline:
        listed = sfn.list_executions(stateMachineArn=machine)["executions"]
        runs = [e for e in listed if e["name"] == name]
        if runs:
            done = sfn.describe_execution(executionArn=runs[0]["executionArn"])
            if done["status"] != "RUNNING":
                break
        time.sleep(0.5)
    if done.get("status") != "SUCCEEDED":
        say(f"\nRebalanceNodegroupsStateMachine did not succeed: {done}")
        return 1
    output = json.loads(done["output"])
    (drained,) = output["drained"]
    say(f"   execution {name}: {done['status']} ({len(runs)} execution for two events)")
    say(f"   surge first: {output['plan']['note']}")
    for pod in drained["pods"]:
        say(f"     {pod['pod']}: {pod['outcome']}")
    say(f"   instance {instance_id}: {drained['instance']}")
    say("\n   kubectl get pods -n shop -o wide: the budget allowed one api pod to go; the others")
    say("   stayed where they were:")
    say(_kubectl(kubeconfig, "get", "pods", "-n", "shop", "-o", "wide").rstrip())
    columns = f"{ZONE_LABEL},eks.amazonaws.com/nodegroup"
    say(f"\n   kubectl get nodes: a Ready replacement in {zone}, the old node gone:")
    say(_kubectl(kubeconfig, "get", "nodes", "-L", columns).rstrip())
    return 0


def run(out: TextIO, fault_rate: float | None = None, fault_seed: int | None = None) -> int:
    from eksops import exec_credential
    from eksops.cli import main as cli
    from eksops.eks_token import TOKEN_PREFIX, TokenRequest, get_token
    from eksops.local.account import OfflineAccount

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    say("eksops demo: the offline account (moto, adapted to behave like AWS), no credentials.\n")
    started = time.monotonic()
    with (
        OfflineAccount(
            region=REGION,
            time_scale=TIME_SCALE,
            eks_delay=EKS_SECONDS * TIME_SCALE,
            fault_rate=fault_rate,
            fault_seed=fault_seed,
        ) as account,
        _isolated_environment(account.environment) as home,
    ):
        assert account.deployment is not None
        say(f"1. `eksops local up`: {account.endpoint_url}, template.yaml deployed as stack")
        say(
            f"   {account.deployment.stack_name} ({account.deployment.status}, "
            f"{time.monotonic() - started:.1f} s):"
        )
        resources = account.deployment.resources
        width = max(map(len, resources))
        for logical_id, physical_id in sorted(resources.items()):
            say(f"     {logical_id:{width}} {physical_id}")

        admin_arn, credentials = _admin_credentials(account)
        os.environ.update(credentials)  # from here on the demo is the IAM user demo-admin
        subnets = _subnets(account)
        request = cluster_request(CLUSTER, subnets, [admin_arn])
        create_input = home / "create-cluster.json"
        create_input.write_text(json.dumps(request, indent=2) + "\n")
        say(
            f"\n2. `eksops run CreateClusterStateMachine --input {create_input.name}`, as IAM user "
            f"{ADMIN_USER},\n   with this input (subnets made in the offline account first):"
        )
        say(create_input.read_text().rstrip())
        say(
            f"   EKS takes {EKS_SECONDS} s to create the cluster and its add-on; time runs "
            f"{1 / TIME_SCALE:g}x faster here:\n   a `wait 5 s` line takes "
            f"{5 * TIME_SCALE:g} s (durations in the lines are real time).\n"
        )
        began = time.monotonic()
        if _eksops_run("CreateClusterStateMachine", create_input, "demo-create", out) != 0:
            say("\nCreateClusterStateMachine failed: see its error above.")
            return 1
        sfn = account.client("stepfunctions")
        creation = sfn.describe_execution(
            executionArn=_execution_arn(account, "CreateClusterStateMachine", "demo-create")
        )
        outputs = json.loads(creation["output"])
        say(f"\n   The cluster, created in {time.monotonic() - began:.1f} s real time:")
        say(f"     cluster ARN      {outputs['clusterArn']}")
        say(f"     API endpoint     {outputs['endpoint']} (a local Kubernetes API)")
        say(f"     OIDC issuer      {outputs['oidcIssuer']}")
        say(f"     OIDC provider    {outputs['oidcProviderArn']}")
        say(f"     kubeconfig       {outputs['kubeconfigCommand']}")
        for binding in outputs["irsa"]:
            say(
                f"     IRSA             {binding['namespace']}/{binding['serviceAccount']} -> "
                f"{binding['roleArn']}\n                      verified: {binding['verified']} "
                f"({binding['reason']})"
            )

        say("\n   The same input again converges: the cluster is adopted, nothing is duplicated:")
        again = _eksops_run(
            "CreateClusterStateMachine", create_input, "demo-create-again", io.StringIO(), "--json"
        )
        rerun = sfn.describe_execution(
            executionArn=_execution_arn(account, "CreateClusterStateMachine", "demo-create-again")
        )
        same = json.loads(rerun.get("output") or "{}").get("clusterArn") == outputs["clusterArn"]
        say(
            f"   {rerun['status']} (exit {again}), same cluster: {'yes' if same else 'NO'}; "
            f"clusters in the account: {account.client('eks').list_clusters()['clusters']}"
        )

        token = get_token(TokenRequest(CLUSTER))
        document = exec_credential.render(
            token.token, token.expiration_timestamp, exec_credential.V1BETA1
        )
        url = base64.urlsafe_b64decode(token.token.removeprefix(TOKEN_PREFIX) + "==").decode()
        signed = parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0]
        say(f"\n3. `eksops token --cluster-name {CLUSTER}`: the ExecCredential kubectl receives")
        # a token is a credential for its 15 minutes: kubectl gets it whole, people a glimpse
        glimpse = f"{TOKEN_PREFIX}<{len(token.token) - len(TOKEN_PREFIX)} more characters>"
        say(document.replace(token.token, glimpse).rstrip())
        say(f"   a presigned STS GetCallerIdentity URL for {urlsplit(url).netloc} (the offline")
        say(f"   STS), signed headers {signed!r}, valid until {token.expiration_timestamp}")

        kubeconfig = home / "kubeconfig"
        kubeconfig.write_text(EXISTING_KUBECONFIG)
        command = shlex.split(outputs["kubeconfigCommand"])
        say(f"\n4. `{shlex.join(command)}` (the workflow's output), twice,")
        say(f"   into {kubeconfig.name}:")
        for _ in range(2):
            cli([*command[1:], "--kubeconfig", str(kubeconfig)])
        say(kubeconfig.read_text().rstrip())
        contexts = _kubectl(kubeconfig, "config", "get-contexts")
        say("\n   kubectl config get-contexts:\n" + contexts)
        say("\n   kubectl get namespaces: kubectl runs `eksops token`; the cluster replays the")
        say(f"   token to the offline STS, finds {ADMIN_USER}'s access entry (the workflow's")
        say("   GrantAdminAccess step) and authorizes by its AmazonEKSClusterAdminPolicy:")
        say(_kubectl(kubeconfig, "get", "namespaces"))
        say("   kubectl auth can-i '*' '*': " + _kubectl(kubeconfig, "auth", "can-i", "*", "*"))
        say("\n   kubectl get nodes: the node groups JoinNodegroupStateMachine made (one per AZ,")
        say("   run by CreateCluster as nested executions), their nodes Ready:")
        columns = "topology.kubernetes.io/zone,eks.amazonaws.com/nodegroup"
        say(_kubectl(kubeconfig, "get", "nodes", "-L", columns))
        say(
            "\n   kubectl get serviceaccount external-dns: the ServiceAccount SetupIrsaStateMachine"
        )
        say("   made (nested too), annotated with the role its pods' tokens are exchanged for:")
        annotations = "{.metadata.annotations}"
        say(
            "   "
            + _kubectl(
                kubeconfig,
                "get",
                "sa",
                "external-dns",
                "-n",
                "external-dns",
                "-o",
                f"jsonpath={annotations}",
            )
        )

        lambda_client = account.client("lambda")
        function = account.resource("KubeconfigFunction")
        say(f"\n5. KubeconfigFunction through the Lambda API ({function}):")
        for event in (
            {"clusterName": CLUSTER, "format": "kubeconfig"},
            {"clusterName": CLUSTER, "format": "token"},
            {"clusterName": "not a name", "format": "token"},
        ):
            began = time.monotonic()
            response = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event))
            body = json.loads(response["Payload"].read())
            took = f"{(time.monotonic() - began) * 1000:.0f} ms"
            if "FunctionError" in response:
                outcome = f"{body['errorType']}: {body['errorMessage']}"
            elif "kubeconfig" in body:
                outcome = f"kubeconfig for {body['kubeconfig']['current-context']}"
            else:
                outcome = f"token valid until {body['expirationTimestamp']}"
            say(f"   {json.dumps(event)}\n     -> {outcome} ({took})")
        say("   (the first call starts a warm worker with the deployed code; later calls reuse it)")

        if _rebalance(account, kubeconfig, home, say) != 0:
            return 1

        delete_input = home / "delete-cluster.json"
        delete_input.write_text(json.dumps({"clusterName": CLUSTER, "region": REGION}) + "\n")
        say(
            f"\n7. `eksops run DeleteClusterStateMachine --input {delete_input.name}` with "
            f"{delete_input.read_text().strip()}:\n   node groups, add-ons and access entries, the "
            "cluster, then the OIDC provider\n   and the cluster and node roles eksops made\n"
        )
        if _eksops_run("DeleteClusterStateMachine", delete_input, "demo-delete", out) != 0:
            say("\nDeleteClusterStateMachine failed: see its error above.")
            return 1
        remaining = account.client("eks").list_clusters()["clusters"]
        say(f"\n   clusters left in the account: {remaining}")
        if account.faults.enabled:
            stats = account.faults.stats()
            say(
                f"\n   Injected faults ({account.faults.rate:.0%} of the steps' calls): "
                f"{stats['injected']} of {sum(stats['calls'].values())} calls, {stats['faults']}"
            )
    say(f"\nDone in {time.monotonic() - started:.0f} s. `eksops local up` serves the same account")
    say("to the AWS CLI, kubectl and `eksops run`.")
    return 0
