"""When to try handing an event to the product again: exponential, capped, ~3 days.

The spec's advice is exponential backoff over days. Waits double from ``first_wait``
up to ``max_wait``; with the defaults (5 s, doubling, at most 6 h, 24 attempts) the
attempts span about 3 days (2.97), then the event is dead (``failed_at``) until replayed.
A first retry after seconds rides out a deploy or a blip; the cap keeps a product that
is down for hours from waiting a whole day for its next try.
A ``Retry-After`` from the product lengthens one wait (never beyond ``max_wait``).
"""

from __future__ import annotations

from dataclasses import dataclass

from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job


class DeliveryFailed(Exception):
    """The product did not accept the event; the job will be retried with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class DeliveryBackoff(BaseRetryStrategy):
    """procrastinate's retry strategy for the deliver task."""

    max_attempts: int = 24
    first_wait: float = 5.0
    max_wait: float = 6 * 3600.0

    def wait(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next try, after ``attempts`` (≥ 1) failed ones."""
        wait = min(self.first_wait * 2 ** min(attempts - 1, 60), self.max_wait)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_wait))
        return wait

    def schedule(self) -> list[float]:
        """Every wait of a delivery that never succeeds (``max_attempts - 1`` of them)."""
        return [self.wait(n) for n in range(1, self.max_attempts)]

    def is_last(self, attempts_before: int) -> bool:
        """Whether the attempt after ``attempts_before`` earlier ones is the final one."""
        return attempts_before + 1 >= self.max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        # Any exception is retried (a database blip too), only DeliveryFailed brings a
        # Retry-After.
        if self.is_last(job.attempts):
            return None
        retry_after = exception.retry_after if isinstance(exception, DeliveryFailed) else None
        wait = self.wait(job.attempts + 1, retry_after)
        return RetryDecision(retry_in={"seconds": wait})
