"""Every wait of the stack: poll a check with tenacity until it gives a value or the timeout passes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from tabular_mlops.stack.console import fmt_duration
from tabular_mlops.stack.stack_error import StackError

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a check that is not satisfied yet; its message says what it is waiting for."""


def poll_until(
    check: Callable[[], T], *, what: str, timeout: float, interval: float = 2.0, log: Path | None = None
) -> T:
    """Call `check` every `interval` seconds until it returns; it raises NotYet meanwhile.

    Any other exception (e.g. a StackError for a process that died) ends the wait at once. After `timeout`
    seconds a StackError names what was awaited, the last NotYet reason, and the log that may explain it.
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout), wait=wait_fixed(interval), retry=retry_if_exception_type(NotYet)
    )
    try:
        return retrying(check)
    except RetryError as exc:
        reason = exc.last_attempt.exception()
        detail = f" ({reason})" if reason is not None and str(reason) else ""
        raise StackError(f"{what}: not ready within {fmt_duration(timeout)}{detail}", log) from None
