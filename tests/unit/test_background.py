"""runtime.serving.in_background: a coroutine in its own thread, ended cleanly."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from onboard360.runtime.serving import in_background


async def _idle() -> None:
    await asyncio.sleep(3600)


def _leaves_a_task_behind(ends: list[str]) -> Callable[[], Coroutine[Any, Any, None]]:
    """Like a connection pool opened as its owner is cancelled: a task spawned, not run."""

    async def left() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ends.append("cancelled")
            raise

    async def work() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            asyncio.get_running_loop().create_task(left())

    return work


def test_the_work_runs_until_the_block_ends() -> None:
    with in_background(_idle, name="idle") as thread:
        assert thread.is_alive()
    assert not thread.is_alive()


def test_tasks_left_behind_are_cancelled_not_stranded_unstarted() -> None:
    ends: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with in_background(_leaves_a_task_behind(ends), name="leaves") as thread:
            pass
        assert not thread.is_alive()
        gc.collect()  # a stranded coroutine would be reported here, as never awaited
    assert ends == ["cancelled"]


def test_the_works_failure_is_raised_in_the_callers_thread() -> None:
    async def fails() -> None:
        raise LookupError("the work failed")

    with (
        pytest.raises(LookupError, match="the work failed"),
        in_background(fails, name="fails") as thread,
    ):
        thread.join(timeout=5)
