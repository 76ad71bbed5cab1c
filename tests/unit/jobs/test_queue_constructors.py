"""Each job constructor (jobs/queue.py) builds the arguments its registered task takes.

A task parameter renamed in worker/app.py without its constructor (or the reverse) would
defer jobs the worker cannot call: this fails first.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any, cast

import procrastinate
import pytest

from onboard360.config.settings import Settings
from onboard360.jobs import queue
from onboard360.wiring.service import Service
from onboard360.worker.app import build_app

# One sample job per constructor; a new task needs a line here (test_every_task_...).
SAMPLES = {
    queue.INBOX_TASK: queue.inbox_job([1, 2]),
    queue.PROVISION_TASK: queue.provision_job("hub", "ch_1", 1),
    queue.DELIVER_TASK: queue.deliver_job("product", "msg_1", "ch_1"),
    queue.MESSAGING_TASK: queue.messaging_job("hub", "ch_1"),
    queue.VERIFY_TASK: queue.verify_job("hub", None, "client=c_1", "c_1"),
    queue.KEY_HEALTH_TASK: queue.key_health_job(),
}
# Deferred by procrastinate itself from its cron, never by us.
PERIODIC = {queue.RECONCILE_TASK, queue.PRUNE_TASK, queue.ABANDON_TASK}


@pytest.fixture(scope="module")
def app() -> procrastinate.App:
    settings = Settings(reconcile_cron="*/5 * * * *")
    service = cast(Service, SimpleNamespace(settings=settings))
    return build_app(service, "postgresql+psycopg://nobody@127.0.0.1:1/none")


def _parameters(app: procrastinate.App, name: str) -> dict[str, inspect.Parameter]:
    task = app.tasks[name]
    parameters = dict(inspect.signature(task.func).parameters)
    if task.pass_context:
        parameters.pop(next(iter(parameters)))
    return parameters


def test_every_task_has_a_constructor_and_every_constructor_a_task(
    app: procrastinate.App,
) -> None:
    ours = {name for name, task in app.tasks.items() if task.func.__module__.startswith("onboard")}
    assert ours == set(SAMPLES) | PERIODIC == set(queue.ALL_TASKS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_constructor_arguments_are_the_task_parameters(app: procrastinate.App, name: str) -> None:
    job = SAMPLES[name]
    parameters = _parameters(app, name)
    assert job.task == name
    required = {n for n, p in parameters.items() if p.default is inspect.Parameter.empty}
    assert required <= set(job.args) <= set(parameters)
    bound: dict[str, Any] = dict(job.args)
    inspect.signature(app.tasks[name].func).bind_partial(**bound)


def test_the_receivers_sql_defers_the_inbox_tasks_argument(app: procrastinate.App) -> None:
    (parameter,) = _parameters(app, queue.INBOX_TASK)
    assert parameter == queue.INBOX_EVENT_IDS
    assert f"'{queue.INBOX_EVENT_IDS}'" in queue.inbox_defer_sql("stored")
    assert f"'{queue.INBOX_TASK}'" in queue.inbox_defer_sql("stored")


def test_the_key_check_runs_on_its_cron_and_never_twice_at_once(app: procrastinate.App) -> None:
    task = app.tasks[queue.KEY_HEALTH_TASK]
    assert task.lock == task.queueing_lock == queue.KEY_HEALTH_TASK
    (periodic,) = [p for p in app.periodic_registry.periodic_tasks.values() if p.task is task]
    assert periodic.cron == "*/10 * * * *"  # key_check_every_minutes' default


def test_the_abandonment_sweep_runs_on_its_cron_one_waiting_at_most(
    app: procrastinate.App,
) -> None:
    task = app.tasks[queue.ABANDON_TASK]
    assert task.queueing_lock == queue.ABANDON_TASK
    (periodic,) = [p for p in app.periodic_registry.periodic_tasks.values() if p.task is task]
    assert periodic.cron == "*/10 * * * *"  # abandon_cron's default
