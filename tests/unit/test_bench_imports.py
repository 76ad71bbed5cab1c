"""Every benchmark still imports: a move of a module the suite does not run must not leave
bench/ pointing at the old place (bench.history did, for a session)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__"))
def test_the_benchmark_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
