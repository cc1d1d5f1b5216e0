"""Poll intervals for Wait-state loops: short at first, then growing with the time already
waited, so a change is noticed late by at most ~13% of the wait (and never by more than
``MAX_SECONDS``), with a few dozen polls for an 8-minute cluster creation instead of CDK's
minute-long sleeps. The loop's state is carried by the state machine, not kept in Lambda."""

from __future__ import annotations

from eksops.errors import WaitTimeoutError
from eksops.models.base import EventModel

MIN_SECONDS = 5
MAX_SECONDS = 20  # with a slow poll (cold start, AssumeRole) still within 30 s late
GROWTH = 0.13  # next interval as a share of the time waited so far


class Poll(EventModel):
    """Where a poll loop stands: carried in the execution's state between its Wait states."""

    attempt: int = 0
    """Polls made so far."""
    waited: int = 0
    """Seconds waited so far (the sum of the Wait states' intervals)."""
    seconds: int = 0
    """Seconds the next Wait state waits."""


def next_poll(poll: Poll | None, what: str, limit_seconds: int) -> Poll:
    """The state after one more poll that found ``what`` not ready; a named error once
    ``limit_seconds`` have been waited."""
    poll = poll or Poll()
    if poll.waited >= limit_seconds:
        raise WaitTimeoutError(
            f"{what} is still not ready after {poll.waited} s ({poll.attempt} polls); "
            "look at it in the EKS console, then re-run the execution to carry on"
        )
    waited = poll.waited + poll.seconds
    seconds = min(MAX_SECONDS, max(MIN_SECONDS, round(GROWTH * waited)))
    return Poll(attempt=poll.attempt + 1, waited=waited, seconds=seconds)
