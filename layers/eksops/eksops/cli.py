"""The `eksops` command line.

`eksops token` runs as kubectl's exec plugin on every kubectl call. A cache hit is answered
before argparse is even imported (see ``_answer_from_cache``); every other path parses with
argparse and imports what the command needs when it runs.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the exec plugin ~10 ms

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from eksops.eks_token import TokenRequest

DESCRIPTION = """\
Run Amazon EKS clusters through automation.

Standard AWS configuration applies: AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE,
AWS_ENDPOINT_URL (for example the offline account), the shared config files."""

# The options that identify a token; their raw values (None when absent) key the cache.
TOKEN_OPTIONS = (
    "--cluster-name",
    "--region",
    "--role-arn",
    "--role-session-name",
    "--external-id",
    "--profile",
)


def _simple_token_options(argv: Sequence[str]) -> dict[str, str] | None:
    """`token` options in their plain spellings; None for anything argparse must judge."""
    if not argv or argv[0] != "token":
        return None
    options: dict[str, str] = {}
    rest = iter(argv[1:])
    for arg in rest:
        name, equals, value = arg.partition("=")
        if name not in TOKEN_OPTIONS or name in options:
            return None
        if not equals:
            value = next(rest, None)
            if value is None or value.startswith("-"):
                return None
        options[name] = value
    return options if options.get("--cluster-name") else None


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def _answer_from_cache(argv: Sequence[str]) -> bool:
    """Print a cached ExecCredential for a plain `eksops token` call; False on any miss."""
    options = _simple_token_options(argv)
    if options is None:
        return False
    from eksops import exec_credential
    from eksops.token_cache import TokenCache, cache_key, default_cache_dir

    key = cache_key([options.get(name) for name in TOKEN_OPTIONS], os.environ)
    cached = TokenCache(default_cache_dir()).get(key, time.time())
    if cached is None:
        return False
    version = exec_credential.api_version(os.environ, _warn)
    sys.stdout.write(exec_credential.render(cached.token, cached.expiration_timestamp, version))
    return True


def _identity_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster-name", required=True, metavar="N", help="EKS cluster name")
    parser.add_argument(
        "--region", metavar="R", help="cluster region (default: AWS_REGION, then your profile)"
    )
    parser.add_argument(
        "--role-arn", metavar="A", help="assume this IAM role (e.g. in the cluster's account)"
    )
    parser.add_argument(
        "--role-session-name",
        metavar="S",
        help="session name when assuming --role-arn (default: EKSGetTokenAuth, as the AWS CLI)",
    )
    parser.add_argument("--external-id", metavar="X", help="external id for --role-arn")
    parser.add_argument(
        "--profile", metavar="P", help="AWS profile; overrides credentials in the environment"
    )


def _token_request(args: argparse.Namespace) -> TokenRequest:
    from eksops.eks_token import DEFAULT_SESSION_NAME, TokenRequest

    return TokenRequest(
        cluster_name=args.cluster_name,
        region=args.region,
        role_arn=args.role_arn,
        role_session_name=args.role_session_name or DEFAULT_SESSION_NAME,
        external_id=args.external_id,
        profile=args.profile,
    )


def _cmd_token(args: argparse.Namespace) -> int:
    from eksops import exec_credential
    from eksops.eks_token import get_token, utc_now
    from eksops.token_cache import CachedToken, TokenCache, cache_key, default_cache_dir

    request = _token_request(args)
    now = utc_now()
    token = get_token(request, os.environ, clock=lambda: now)
    if not args.no_cache:
        options = [getattr(args, name[2:].replace("-", "_")) for name in TOKEN_OPTIONS]
        issued, expires = now.replace(microsecond=0).timestamp(), token.expiration.timestamp()
        cached = CachedToken(token.token, token.expiration_timestamp, issued, expires)
        TokenCache(default_cache_dir()).put(cache_key(options, os.environ), cached)
    version = exec_credential.api_version(os.environ, _warn)
    sys.stdout.write(exec_credential.render(token.token, token.expiration_timestamp, version))
    return 0


def _exec_command() -> str:
    """How kubectl should start `eksops`: by name when it is on PATH, else by full path."""
    import shutil
    from pathlib import Path

    found = shutil.which("eksops")
    running = Path(sys.argv[0]).resolve()
    if running.name != "eksops" or (found and Path(found).resolve() == running):
        return "eksops"
    return str(running)


def _cmd_kubeconfig(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from eksops import kubeconfig
    from eksops.aws_session import boto3_session
    from eksops.eks_cluster import describe_endpoint
    from eksops.eks_token import resolve_signer

    request = _token_request(args)
    credentials, target = resolve_signer(request)
    eks = boto3_session(credentials, target.region).client("eks")
    cluster = describe_endpoint(eks, request.cluster_name)
    name = args.alias or cluster.arn
    user = kubeconfig.exec_user(dataclasses.replace(request, region=target.region), _exec_command())
    path = Path(args.kubeconfig).expanduser() if args.kubeconfig else kubeconfig.default_path()
    result = kubeconfig.merge_into_file(path, kubeconfig.document(cluster, user, name))
    verb = "Updated" if result.changed else "Unchanged"
    print(f"{verb} context {result.context} in {result.path}")
    return 0


def _cmd_local_demo(args: argparse.Namespace) -> int:
    from eksops.local.demo import run

    return run(sys.stdout, fault_rate=args.fault_rate, fault_seed=args.fault_seed)


def _cmd_local_up(args: argparse.Namespace) -> int:
    from eksops.local.serve import up

    return up(
        args.port,
        args.region,
        args.time_scale,
        args.eks_delay,
        sys.stdout,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
    )


def _fault_rate(text: str) -> float:
    import argparse

    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction between 0 and 1, not {text!r}")
    return rate


def _fault_options(parser: argparse.ArgumentParser) -> None:
    """--fault-rate and --fault-seed (defaults: EKSOPS_LOCAL_FAULT_RATE / _SEED)."""
    parser.add_argument(
        "--fault-rate",
        type=_fault_rate,
        default=None,
        metavar="F",
        help=(
            "make a fraction F (0..1) of the Lambda steps' AWS and Kubernetes calls fail "
            "before they take effect: throttling, 5xx, dropped connections, drawn evenly "
            "(default EKSOPS_LOCAL_FAULT_RATE, else 0; EKSOPS_LOCAL_FAULT_KINDS narrows the "
            "kinds; see docs/offline-account.md)"
        ),
    )
    parser.add_argument(
        "--fault-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of the fault draw (default EKSOPS_LOCAL_FAULT_SEED, else random)",
    )


def _cmd_local_fire_schedule(args: argparse.Namespace) -> int:
    from eksops.local.control import OfflineAccountError, call

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise OfflineAccountError("set AWS_ENDPOINT_URL to the endpoint `eksops local up` printed")
    answer = call(endpoint, "fire-schedule", {"rule": args.rule, "eventBus": args.event_bus})
    print(f"Fired {answer['rule']}: delivered to {answer['targets']} target(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="eksops", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser(
        "token",
        help="print an EKS token as a kubectl ExecCredential (kubectl exec plugin)",
        description=(
            "Print an ExecCredential with an EKS bearer token, byte-identical to "
            "`aws eks get-token` for the same credentials, region and second. The apiVersion "
            "follows KUBERNETES_EXEC_INFO (default client.authentication.k8s.io/v1beta1). "
            "Tokens are cached per cluster, region, role and caller in the user cache "
            "directory (EKSOPS_CACHE_DIR overrides) and reused until 60 s before they expire."
        ),
    )
    _identity_options(token)
    token.add_argument("--no-cache", action="store_true", help="mint a fresh token, cache nothing")
    token.set_defaults(handler=_cmd_token)

    kube = commands.add_parser(
        "kubeconfig",
        help="add or update a kubeconfig context for a cluster",
        description=(
            "Merge a cluster, context and user into a kubeconfig, like "
            "`aws eks update-kubeconfig`: other entries are kept, a re-run adds nothing twice, "
            "and the new context becomes current. The user runs `eksops token`. With "
            "--role-arn, the cluster is also described as that role."
        ),
    )
    _identity_options(kube)
    kube.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="file to merge into (default: first file of KUBECONFIG, else ~/.kube/config)",
    )
    kube.add_argument("--alias", metavar="NAME", help="context name (default: the cluster ARN)")
    kube.set_defaults(handler=_cmd_kubeconfig)

    from eksops import workflow_run

    workflow_run.add_parser(commands)

    local = commands.add_parser(
        "local", help="the offline account", description="Work against the offline account."
    )
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    demo = local_commands.add_parser(
        "demo",
        help="the main job offline, narrated",
        description=(
            "Run what eksops does today end to end against an in-process moto account. With "
            "--fault-rate, the workflows' steps meet injected throttling, server errors and "
            "dropped connections; the faults injected are counted at the end."
        ),
    )
    _fault_options(demo)
    demo.set_defaults(handler=_cmd_local_demo)
    up = local_commands.add_parser(
        "up",
        help="serve the offline account until interrupted",
        description=(
            "Serve an offline AWS account on 127.0.0.1 (moto, adapted to behave like AWS) with "
            "this project's template.yaml deployed as stack `eksops`: the real state machines, "
            "the real handler code, EventBridge rules, and for every EKS cluster a Kubernetes "
            "API that authenticates EKS tokens. Prints the endpoint and the environment to "
            "point the AWS CLI, boto3, eksops and kubectl at it. Ctrl-C stops it; state is "
            "not kept."
        ),
    )
    up.add_argument("--port", type=int, default=4566, help="port (default %(default)s; 0: any)")
    up.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="region of the deployed stack (default: AWS_REGION, else %(default)s)",
    )
    up.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply Wait states and Retry intervals by F (e.g. 0.01); default real time",
    )
    up.add_argument(
        "--eks-delay",
        type=float,
        default=3.0,
        metavar="S",
        help="seconds EKS clusters, node groups and add-ons take to change state (default 3)",
    )
    _fault_options(up)
    up.set_defaults(handler=_cmd_local_up)
    fire = local_commands.add_parser(
        "fire-schedule",
        help="deliver a scheduled rule's event now",
        description=(
            "Deliver the Scheduled Event of an EventBridge schedule rule to its targets now, as "
            "its schedule would. RULE is the rule's name or the template's logical ID. Talks to "
            "the offline account at AWS_ENDPOINT_URL."
        ),
    )
    fire.add_argument("rule", metavar="RULE", help="rule name or template logical ID")
    fire.add_argument("--event-bus", default="default", help="event bus (default %(default)s)")
    fire.set_defaults(handler=_cmd_local_fire_schedule)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if _answer_from_cache(argv):
        return 0
    args = build_parser().parse_args(argv)
    from eksops.errors import EksopsError

    try:
        return args.handler(args)
    except EksopsError as exc:
        print(f"eksops: {exc.error_name}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
