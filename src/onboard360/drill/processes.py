"""The drill's child processes: started, SIGKILLed, restarted, and stopped — only its own.

Each process writes stdout and stderr to one log file per incarnation in the run
directory (``web-1.0.log``, ``web-1.1.log`` after the first restart, …), so the drill can
read what the workers said (stalled jobs recovered) and a failed run can be explained.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def child_env(own: dict[str, str]) -> dict[str, str]:
    """The caller's environment without its ``ONBOARD360_*`` (a config file, failpoints, a
    database of theirs must not leak into the drill's processes), plus ``own``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARD360_")}
    return {**inherited, **own}


@dataclass
class Child:
    """One named process the drill owns (a web process, a worker, the sandbox, …)."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]
    run_dir: Path
    # An HTTP URL answering 200 once the process serves; None: started means ready.
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    incarnation: int = -1
    kills: int = 0
    logs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        self.incarnation += 1
        log = self.run_dir / f"{self.name}.{self.incarnation}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                list(self.argv),
                env=child_env(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C of the drill reaches the drill only
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL this process (by its pid) and reap it."""
        if self.process is None or not self.alive():
            return
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (workers drain, servers finish requests), SIGKILL after ``grace``."""
        if self.process is None or not self.alive():
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    async def wait_ready(self, patience: float = 60.0) -> None:
        deadline = time.monotonic() + patience
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if not self.alive():
                    raise RuntimeError(
                        f"{self.name} exited with {self.process and self.process.returncode}: "
                        f"{self.tail()}"
                    )
                if self.ready_url is None:
                    return
                try:
                    if (await http.get(self.ready_url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} not ready after {patience:.0f}s: {self.tail()}"
                    )
                await asyncio.sleep(0.1)

    def tail(self, chars: int = 800) -> str:
        if not self.logs:
            return ""
        try:
            return self.logs[-1].read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class Fleet:
    """Every child of the run; ``killable`` are the web and worker processes."""

    children: list[Child] = field(default_factory=list)

    def add(self, child: Child) -> Child:
        self.children.append(child)
        return child

    def named(self, prefix: str) -> list[Child]:
        return [c for c in self.children if c.name.startswith(prefix)]

    @property
    def killable(self) -> list[Child]:
        return self.named("web-") + self.named("worker-")

    async def start(self, children: Sequence[Child], patience: float = 60.0) -> None:
        for child in children:
            child.start()
        await asyncio.gather(*(child.wait_ready(patience) for child in children))

    async def restart(self, child: Child) -> None:
        child.start()
        await child.wait_ready()

    async def revive(self) -> list[str]:
        """Start again whatever died on its own (it should not have); their names."""
        dead = [c for c in self.killable if not c.alive()]
        for child in dead:
            await self.restart(child)
        return [c.name for c in dead]

    def stop(self) -> None:
        # Workers and web first, the sandbox and product last (they serve the others).
        for child in reversed(self.children):
            child.stop()
