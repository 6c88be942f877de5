"""Bounded retries with exponential back-off that honour ``Retry-After`` on 429 and 5xx answers.

Example:
    >>> delay_for(attempt=2, retry_after=None, base=1.0, cap=30.0, jitter=0.0)
    4.0
    >>> delay_for(attempt=0, retry_after="7", base=1.0, cap=30.0, jitter=0.0)
    7.0
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable

from mirror_hf.llm.types import BackendError

logger = logging.getLogger(__name__)
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)  # an HTTP date
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def delay_for(attempt: int, retry_after: str | None, base: float, cap: float, jitter: float = 0.1) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): the server's Retry-After if given, else base * 2^attempt."""
    server = _retry_after_seconds(retry_after)
    delay = server if server is not None else min(cap, base * 2**attempt)
    return delay * (1 + random.uniform(0, jitter)) if server is None else delay


async def call_with_retries(
    call: Callable[[], Awaitable],
    classify: Callable[[Exception], tuple[int | None, str | None] | None],
    *,
    max_attempts: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    on_retry: Callable[[int, int | None, float], None] | None = None,
):
    """Await ``call()``; on an exception that ``classify`` maps to (status, retry_after), wait and try again.

    ``classify`` returns None for errors that must not be retried (they raise at once as BackendError).
    """
    for attempt in range(max_attempts):
        try:
            return await call()
        except Exception as err:  # noqa: BLE001 - classified below
            verdict = classify(err)
            if verdict is None:
                raise BackendError(f"{type(err).__name__}: {err}", attempts=attempt + 1) from err
            status, retry_after = verdict
            if status is not None and status not in RETRY_STATUS:
                raise BackendError(f"HTTP {status}: {err}", status=status, attempts=attempt + 1) from err
            if attempt + 1 == max_attempts:
                raise BackendError(
                    f"gave up after {max_attempts} attempts (last: {status or type(err).__name__}): {err}",
                    status=status,
                    attempts=max_attempts,
                ) from err
            delay = delay_for(attempt, retry_after, base_delay, max_delay)
            logger.info("retrying in %.1fs after %s (attempt %d/%d)", delay, status, attempt + 1, max_attempts)
            if on_retry:
                on_retry(attempt, status, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
