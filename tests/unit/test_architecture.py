"""The package keeps its shape: layers, module size, SQL and the queue each in one place.

The contracts live in .importlinter (read by `lint-imports` too); README's "Layout" explains
them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "onboard360"
MAX_LINES = 400
# The drill's evidence reads the queue's tables on purpose (it audits the queue itself).
QUEUE_TABLES_ALLOWED = ("jobs/queue", "db/migrations/", "drill/")


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_import_contracts_hold(capsys: pytest.CaptureFixture[str]) -> None:
    code = lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code == 0, report


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_the_limit(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"


def test_only_the_queue_adapter_names_procrastinates_tables() -> None:
    naming = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if re.search(r"\bprocrastinate_\w+", p.read_text())
        and not str(p.relative_to(PACKAGE)).startswith(QUEUE_TABLES_ALLOWED)
    ]
    assert naming == []
