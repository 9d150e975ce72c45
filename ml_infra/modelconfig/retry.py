"""Retries of the core: exponential backoff with full jitter, bounded by a number of attempts and a deadline.

The core, not a backend, retries: one budget then covers a whole load or activation, whichever service is
underneath, and tests run the same code with no real sleeping (`sleep=`, `jitter=`, `clock=`). A backend marks
what may be repeated (`BackendUnavailableError.retryable`); nothing else is retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ml_infra.modelconfig.errors import BackendUnavailableError

T = TypeVar("T")


def is_retryable(err: BaseException) -> bool:
    return isinstance(err, BackendUnavailableError) and err.retryable


@dataclass(frozen=True)
class Backoff:
    """How often and how long to retry one operation: exponential backoff with full jitter, bounded by a number
    of attempts and by a deadline for the whole operation (a load of several calls, an activation).

    Written here rather than left to the SDK's retry mode because an SDK retries each call on its own budget
    with a sleep nothing can replace: an application must know how long at most a load blocks before it is served
    the last known good configuration, and tests must run the same code with no real sleeping (`sleep=`).
    """

    attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 2.0
    deadline: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic

    def start(self) -> RetryBudget:
        return RetryBudget(self, self.clock())


@dataclass
class RetryBudget:
    """The retries left to one operation; every backend call of the operation goes through `call`."""

    backoff: Backoff
    started: float
    retries: int = field(default=0)

    def call(self, fn: Callable[[], T]) -> T:
        policy = self.backoff
        attempt = 1
        while True:
            try:
                return fn()
            except Exception as err:
                if not is_retryable(err) or attempt >= policy.attempts:
                    raise
                delay = policy.jitter() * min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
                if policy.clock() - self.started + delay > policy.deadline:
                    raise
                policy.sleep(delay)
                attempt += 1
                self.retries += 1
