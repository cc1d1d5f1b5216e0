"""Fault tolerance: the demo's cluster workflows, N runs with a fraction of their steps' AWS and
Kubernetes calls failing (the offline account's fault injector: throttling, 5xx, dropped
connections, before the call takes effect), then N runs without faults as the baseline.

A run is what the demo does to a cluster through the workflows: CreateClusterStateMachine with
the demo's input (an add-on, one managed node group per AZ in three AZs, which it joins through
nested JoinNodegroupStateMachine executions, and an IRSA binding through a nested
SetupIrsaStateMachine execution), then DeleteClusterStateMachine. It succeeds when both
executions succeed. Runs go CONCURRENCY at a time in each offline account (own cluster names,
shared template), in PROCESSES accounts at once (moto is process-wide): one demo takes about
two minutes of mostly scaled waiting, so 100 of them in a row would take hours.

Not in a run: RebalanceNodegroupsStateMachine (the demo's step 6). Its Tasks retry
eksops.KubernetesUnavailable and Lambda errors as the others do, but this benchmark does not
measure it.

Each offline account keeps every run's state in memory (about 6 GB after 50 demos): run it on
an otherwise idle machine.

Reports successes K/N, the faults injected by surface and kind, the step attempts the state
machines retried, and wall time against the baseline.

    .venv/bin/python benchmarks/fault_tolerance.py [--runs 100] [--rate 0.2] [--seed 1]
        [--concurrency 5] [--processes 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

REGION = "us-west-2"
TIME_SCALE = 0.02
EKS_DELAY = 0.5  # real seconds for EKS state changes
DEADLINE = 900  # seconds per execution
MACHINES = (
    "CreateClusterStateMachine",
    "JoinNodegroupStateMachine",
    "SetupIrsaStateMachine",
    "DeleteClusterStateMachine",
)


def _execute(account: Any, machine: str, name: str, request: dict[str, Any]) -> dict[str, Any]:
    sfn = account.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=account.resource(machine), name=name, input=json.dumps(request)
    )["executionArn"]
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.5)
    return {"status": "DEADLINE", "error": f"still running after {DEADLINE} s"}


def _failure(account: Any, described: dict[str, Any]) -> str:
    """Why an execution failed: its error and the cause of the failed step that led to it."""
    text = f"{described['status']}: {described.get('error')}"
    if "executionArn" not in described:
        return text
    events = account.client("stepfunctions").get_execution_history(
        executionArn=described["executionArn"], reverseOrder=True
    )["events"]
    for event in events:
        for key in ("lambdaFunctionFailedEventDetails", "taskFailedEventDetails"):
            if key in event:
                details = event[key]
                return f"{text} ({details.get('error')}: {str(details.get('cause'))[:300]})"
    return text


def _one_run(account: Any, index: int, subnets: list[str], tag: str) -> dict[str, Any]:
    from eksops.local.demo import cluster_request  # the demo's cluster, without its admin user

    name = f"ft-{tag}-{index:03d}"
    created = _execute(account, "CreateClusterStateMachine", name, cluster_request(name, subnets))
    if created["status"] != "SUCCEEDED":
        return {"ok": False, "failed": f"create {_failure(account, created)}"}
    deleted = _execute(
        account, "DeleteClusterStateMachine", f"{name}-delete", {"clusterName": name}
    )
    if deleted["status"] != "SUCCEEDED":
        return {"ok": False, "failed": f"delete {_failure(account, deleted)}"}
    return {"ok": True}


def _reported(account: Any, index: int, subnets: list[str], tag: str) -> dict[str, Any]:
    """One run, with a progress line when it ends (a run takes minutes)."""
    result = _one_run(account, index, subnets, tag)
    print(f"  run {tag}{index:03d}: {'ok' if result['ok'] else result['failed']}", flush=True)
    return result


def _retried_attempts(account: Any) -> Counter[str]:
    """Failed Task attempts in every execution's history, by error (each was retried or
    caught by the state machine)."""
    sfn = account.client("stepfunctions")
    errors: Counter[str] = Counter()
    for machine in MACHINES:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=account.resource(machine)
        )
        for execution in (e for page in pages for e in page["executions"]):
            history = sfn.get_paginator("get_execution_history").paginate(
                executionArn=execution["executionArn"]
            )
            for event in (e for page in history for e in page["events"]):
                for key in ("lambdaFunctionFailedEventDetails", "taskFailedEventDetails"):
                    if key in event:
                        errors[event[key].get("error", "?")] += 1
    return errors


def _worker(args: tuple[int, list[int], float, int, int]) -> dict[str, Any]:
    """One offline account running ``indices`` runs, ``concurrency`` at a time."""
    process, indices, rate, seed, concurrency = args
    from eksops.local.account import OfflineAccount

    started = time.monotonic()
    with OfflineAccount(
        region=REGION,
        time_scale=TIME_SCALE,
        eks_delay=EKS_DELAY,
        fault_rate=rate,
        fault_seed=seed + process,
    ) as account:
        ec2 = account.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}"
            )["Subnet"]["SubnetId"]
            for i, zone in enumerate("abc")
        ]
        tag = "f" if rate else "b"
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(lambda i: _reported(account, i, subnets, tag), indices))
        stats = account.faults.stats()
        retried = _retried_attempts(account)
    return {
        "results": results,
        "stats": stats,
        "retried": dict(retried),
        "seconds": time.monotonic() - started,
    }


def measure(runs: int, rate: float, seed: int, concurrency: int, processes: int) -> dict[str, Any]:
    shares = [list(range(runs))[p::processes] for p in range(processes)]
    jobs = [(p, share, rate, seed, concurrency) for p, share in enumerate(shares) if share]
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")  # a fresh moto per account
    # an account process that dies (out of memory) fails the benchmark instead of hanging it
    with ProcessPoolExecutor(len(jobs), mp_context=context) as pool:
        parts = list(pool.map(_worker, jobs))
    wall = time.monotonic() - started
    results = [r for part in parts for r in part["results"]]
    faults: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    retried: Counter[str] = Counter()
    for part in parts:
        faults.update(part["stats"]["faults"])
        calls.update(part["stats"]["calls"])
        retried.update(part["retried"])
    return {
        "succeeded": sum(r["ok"] for r in results),
        "runs": len(results),
        "failures": [r["failed"] for r in results if not r["ok"]],
        "faults": dict(sorted(faults.items())),
        "calls": dict(calls),
        "retried": dict(retried.most_common()),
        "wall": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=5, help="runs at once per account")
    parser.add_argument("--processes", type=int, default=2, help="offline accounts at once")
    args = parser.parse_args(argv)
    print(
        f"\n## Fault tolerance: the demo's cluster workflows (create with node groups and IRSA, "
        f"delete), {args.runs} runs with {args.rate:.0%} of the steps' AWS and Kubernetes calls "
        f"failing, then {args.runs} without ({args.processes} accounts x {args.concurrency} "
        "runs at once)",
        flush=True,
    )
    faulty = measure(args.runs, args.rate, args.seed, args.concurrency, args.processes)
    baseline = measure(args.runs, 0.0, args.seed, args.concurrency, args.processes)
    injected = sum(faulty["faults"].values())
    print(f"with faults:    succeeded {faulty['succeeded']}/{faulty['runs']}")
    print(
        f"  calls by the steps: {faulty['calls']}; injected {injected} "
        f"({injected / max(1, sum(faulty['calls'].values())):.1%}): {faulty['faults']}"
    )
    print(f"  step attempts failed and retried by the state machines: {faulty['retried']}")
    for failure in faulty["failures"][:10]:
        print(f"  failed: {failure}")
    print(f"without faults: succeeded {baseline['succeeded']}/{baseline['runs']}")
    print(f"  step attempts failed and retried by the state machines: {baseline['retried']}")
    for failure in baseline["failures"][:10]:
        print(f"  failed: {failure}")
    print(
        f"wall time: {faulty['wall']:.0f} s with faults, {baseline['wall']:.0f} s without "
        f"({faulty['wall'] / baseline['wall']:.2f}x)"
    )
    return 0 if faulty["succeeded"] >= 0.99 * faulty["runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
