"""Time in moto's Step Functions interpreter, optionally scaled.

Wait states and Retry back-off wait for real, as in AWS; a scale below 1 makes both shorter
(0.01: a 10-minute poll interval takes 6 s) for tests and the demo, without changing the ASL.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

_scale = 1.0


def scaled(seconds: float) -> float:
    return seconds * _scale


def install(scale: float = 1.0) -> None:
    """Scale Wait states and Retry intervals by ``scale`` (1.0: real time). Idempotent."""
    global _scale
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    if scale <= 0:
        raise ValueError("time scale must be positive")
    _scale = scale

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        """Wait, waking early only when the execution stops (as moto's own method does)."""
        deadline = time.monotonic() + scaled(wait_seconds)
        while env.is_running() and (remaining := deadline - time.monotonic()) > 0:
            env.program_state_event.wait(remaining)

    wait_function.WaitFunction._wait_interval = wait_interval
    # retrier_decl sleeps between attempts with time.sleep: give it a scaled clock
    retrier_decl.time = SimpleNamespace(**{**vars(time), "sleep": lambda s: time.sleep(scaled(s))})
