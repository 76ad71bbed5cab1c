"""Every step kind a scenario may use, by its ``do`` name.

A new kind is a ``Step`` subclass in one of these modules (or a new module imported here):
defining it registers it, and the loader, the runner and the README's table read it from
``KINDS``. Nothing else changes.
"""

from __future__ import annotations

from onboard360.sandbox.scenario import kinds_expect, kinds_popup, kinds_world
from onboard360.sandbox.scenario.base import KINDS

MODULES = (kinds_world, kinds_popup, kinds_expect)
KIND_NAMES = tuple(sorted(KINDS))
