"""Moved to jobs/queue.py (the one door to the queue); this name stays only until the
call sites other branches are changing import from there. Add no new import of it."""

from onboard360.jobs.queue import DEFAULT_QUEUE, defer
from onboard360.jobs.queue import JobSpec as Job

__all__ = ["DEFAULT_QUEUE", "Job", "defer"]
