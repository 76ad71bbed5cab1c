"""The package as users get it: a wheel built from this tree, installed WITHOUT extras into a
fresh virtualenv, its commands run as processes from a directory outside the repository.

The same steps as deploy/Dockerfile: ``pip wheel --no-deps`` of the shipped files only
(pyproject.toml, README.md, src/), then ``pip install`` of that wheel. pip reaches only the
package index this machine is configured with and reuses its cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.sandbox_fixtures import wait_until

REPO = Path(__file__).resolve().parents[2]
# What deploy/Dockerfile copies into its build stage: nothing else may be needed.
SHIPPED = ("pyproject.toml", "README.md", "src")
PACKAGE = REPO / "src" / "onboard360"
STOP_TIMEOUT = 30


def build_wheel(workdir: Path) -> Path:
    """``pip wheel --no-deps`` of a copy of the shipped files; answers the wheel's path."""
    source = workdir / "source"
    source.mkdir()
    for name in SHIPPED:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    dist = workdir / "dist"
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), source])
    (wheel,) = dist.glob("onboard360-*.whl")
    return wheel


def shipped_package_files() -> set[str]:
    """Every file of src/onboard360 a running install may read, as wheel entry names."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if name.startswith("onboard360/")}


@dataclass(frozen=True)
class Install:
    """A virtualenv holding the wheel and nothing of the repository; ``home`` is a
    directory outside the repository to run its commands in."""

    venv: Path
    home: Path

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def env(self, settings: Mapping[str, str]) -> dict[str, str]:
        """A clean environment: no ONBOARD360_* of ours, no path into the source tree."""
        skip = ("ONBOARD360_", "PYTHON", "VIRTUAL_ENV")
        clean = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
        clean["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{clean.get('PATH', '')}"
        return {**clean, **settings}

    def run(
        self, *args: str, settings: Mapping[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin("onboard360")), *args],
            env=self.env(settings or {}),
            cwd=self.home,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin("python")), "-c", code],
            env=self.env({}),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def install(wheel: Path, workdir: Path) -> Install:
    """A fresh virtualenv (no system site-packages) with the wheel and its declared
    dependencies only: no extras."""
    venv = workdir / "venv"
    _check([sys.executable, "-m", "venv", venv])
    _check([venv / "bin" / "pip", "install", "--quiet", wheel])
    home = workdir / "home"
    home.mkdir()
    return Install(venv, home)


def installed_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Install]:
    """The wheel and its install, made once per test session: the first xdist worker to
    ask builds them (under a lock), the others wait and reuse them."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    workdir = shared / "installed-package"
    with (shared / "installed-package.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = workdir / "wheel-path"
        if not made.exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
            wheel = build_wheel(workdir)
            install(wheel, workdir)
            made.write_text(str(wheel))
    return Path(made.read_text()), Install(workdir / "venv", workdir / "home")


@dataclass
class Processes:
    """Long-running commands of an install; each one's output goes to a log file."""

    install: Install
    logs: Path
    started: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(self, name: str, *args: str, settings: Mapping[str, str]) -> subprocess.Popen[bytes]:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(self.install.bin("onboard360")), *args],
                env=self.install.env(settings),
                cwd=self.install.home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append((process, log))
        return process

    def output(self) -> str:
        """Everything every process wrote so far."""
        return "\n".join(log.read_text(errors="replace") for _, log in self.started)

    def describe(self) -> str:
        return "\n".join(
            f"--- {log.name} (exit {process.poll()}):\n{log.read_text(errors='replace')[-3000:]}"
            for process, log in self.started
        )

    def stop_all(self) -> list[int]:
        """SIGTERM each (newest first), as a service manager stops them; their exit codes."""
        codes = []
        for process, _ in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                codes.append(process.wait(timeout=STOP_TIMEOUT))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes


@contextlib.contextmanager
def processes_of(install: Install, logs: Path) -> Iterator[Processes]:
    running = Processes(install, logs)
    try:
        yield running
    finally:
        running.stop_all()


def wait_for(url: str, processes: Processes, what: str, timeout: float = 60) -> None:
    """Until ``url`` answers 200; fails at once, with every log, if a process died."""

    def up() -> bool:
        if any(process.poll() is not None for process, _ in processes.started):
            raise AssertionError(
                f"a process exited while waiting for {what}:\n" + processes.describe()
            )
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, timeout=timeout, what=what)


def _check(argv: list[str | Path]) -> None:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{argv[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
