"""Micro-batching: requests that arrive while the model is busy are scored together, in one call.

A one-row `predict_proba` of the pipeline costs about as much as a 16-row one (the per-call overhead of the
ColumnTransformer dominates), so under concurrent load one call for everything waiting multiplies throughput,
while a lone request waits for nobody: it is scored as soon as the scoring thread is free. Scoring runs on one
worker thread, so the event loop keeps accepting and validating the next requests meanwhile. Rows are scored
independently by the pipeline, so a row's score does not depend on the rows it was batched with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Records = list[dict[str, Any]]
Pending = tuple[Records, "asyncio.Future[list[Any]]"]


class MicroBatcher:
    """Groups of records in, one answer list per group out; `score_groups` does the work on a worker thread."""

    def __init__(self, score_groups: Callable[[list[Records]], list[list[Any]]], max_rows: int) -> None:
        self.score_groups, self.max_rows = score_groups, max_rows
        self._pending: list[Pending] = []
        self._draining = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring")

    async def score(self, records: Records) -> list[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._pending.append((records, future))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await future

    def _take(self) -> list[Pending]:
        """The waiting groups up to `max_rows` rows (always at least one group)."""
        taken: list[Pending] = []
        rows = 0
        while self._pending and (not taken or rows + len(self._pending[0][0]) <= self.max_rows):
            group = self._pending.pop(0)
            taken.append(group)
            rows += len(group[0])
        return taken

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                taken = self._take()
                groups = [records for records, _ in taken]
                try:
                    answers = await loop.run_in_executor(self._executor, self.score_groups, groups)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting request, the loop goes on
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), answer in zip(taken, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self._draining = False

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
