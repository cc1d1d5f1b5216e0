"""`eksops local up`: serve the offline account until interrupted."""

from __future__ import annotations

import signal
import threading
from typing import TextIO

from eksops.local.account import OfflineAccount


def up(
    port: int,
    region: str,
    time_scale: float,
    eks_delay: float,
    out: TextIO,
    fault_rate: float | None = None,
    fault_seed: int | None = None,
) -> int:
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    say(f"Starting the offline account (moto) on 127.0.0.1:{port or 'a free port'}...")
    account = OfflineAccount(
        port=port,
        region=region,
        time_scale=time_scale,
        eks_delay=eks_delay,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
    ).start()
    deployment = account.deployment
    assert deployment is not None
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        say(f"Endpoint  {account.endpoint_url}   region {account.region}   account 123456789012")
        say(f"Stack     {deployment.stack_name}: {deployment.status}")
        for logical_id, physical_id in sorted(deployment.resources.items()):
            say(f"          {logical_id:32} {physical_id}")
        say()
        say("Point clients at it (any credentials work):")
        say("  export " + " ".join(f"{k}={v}" for k, v in account.environment.items()))
        say("  aws stepfunctions list-state-machines        # the AWS CLI")
        say("  python -c 'import boto3; print(boto3.client(\"lambda\").list_functions())'")
        say("  eksops run WORKFLOW --input FILE             # executions, followed live")
        say("  eksops local fire-schedule RULE              # a scheduled rule, now")
        say(
            "  eksops kubeconfig --cluster-name NAME         # then kubectl: every EKS cluster gets"
        )
        say(
            "                                               # a Kubernetes API on https://127.0.0.1"
        )
        faults = account.faults
        if faults.enabled:
            say()
            say(
                f"Faults    {faults.rate:.0%} of the Lambda steps' AWS and Kubernetes calls fail "
                f"({', '.join(faults.kinds)}; seed {faults.seed})"
            )
        say()
        say("Ctrl-C to stop.")
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if account.faults.enabled:
            say(f"Faults injected: {account.faults.stats()}")
        say("Stopping the offline account.")
        account.stop()
    return 0
