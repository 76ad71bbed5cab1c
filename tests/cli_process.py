"""Run `python -m onboard360 …` as a user would: a real process, a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_onboard360(
    *args: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """The command's result; only ``env`` supplies ONBOARD360_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARD360_")}
    return subprocess.run(
        [sys.executable, "-m", "onboard360", *args],
        env={**clean, **env},
        cwd=cwd or Path(__file__).parent,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
