"""Failpoints: kill the process at a named line, to prove what survives a crash.

``ONBOARD360_FAILPOINTS`` holds a comma-separated list of names; ``hit(name)`` ends the
process at once (``os._exit``: no ``finally``, no commit, no flush) when its name is in
that list, exactly like a power cut or ``kill -9`` would. Unset in production, where
``hit`` costs one environment lookup.

Failpoints in the code:

- ``key.generated`` — in ``jobs/keys.py``, right after 360dialog answered a new key and
  before our transaction commits it.
- ``sync.page_committed`` — in ``jobs/reconcile.py``, right after a page of the sync and
  the hub's checkpoint committed: the next sync must continue after that page.
"""

from __future__ import annotations

import os

ENV_VAR = "ONBOARD360_FAILPOINTS"
EXIT_CODE = 70  # EX_SOFTWARE: tests tell a failpoint exit from any other death

KEY_GENERATED = "key.generated"
SYNC_PAGE_COMMITTED = "sync.page_committed"


def armed(name: str) -> bool:
    names = os.environ.get(ENV_VAR, "")
    return bool(names) and name in {part.strip() for part in names.split(",")}


def hit(name: str) -> None:
    """End the process here, with no cleanup at all, if the failpoint ``name`` is armed."""
    if armed(name):
        os._exit(EXIT_CODE)
