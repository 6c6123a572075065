"""Run the product locally: a Redis if none answers, the web server, a Celery worker and the page sweeper.

Started by `./dev run` after migrations. Prints the URL and streams the
children's output. A worker or sweeper that dies (killed, out of memory) is
started again, so the site stays up and the pages it was reading are taken
again (the sweeper publishes them). Ctrl-C, or the web server's own exit,
stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from scripts.local_redis import find_or_start_redis

REPO_ROOT = Path(__file__).resolve().parent.parent
# A child that dies again within this many seconds of its start waits longer before the next try
# (up to MAX_RESTART_DELAY), so a worker that cannot start does not spin.
QUICK_DEATH_SECONDS = 10.0
MAX_RESTART_DELAY = 30.0


@dataclass
class Child:
    """One supervised process: its command, and whether it is started again when it exits."""

    name: str
    command: Sequence[str]
    restart: bool
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_delay: float = 1.0
    restart_at: float | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    """Start children, restart the restartable ones when they die, stop them all at the end."""

    children: list[Child]
    env: dict[str, str]
    cwd: Path = REPO_ROOT
    out: TextIO = field(default=sys.stdout)

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(list(child.command), cwd=self.cwd, env=self.env)
        child.started_at = time.monotonic()
        child.restart_at = None

    def poll(self) -> Child | None:
        """Restart dead restartable children; return a child whose exit ends the run (else None)."""
        now = time.monotonic()
        for child in self.children:
            if child.process is None:
                continue
            code = child.process.poll()
            if code is None:
                continue
            if not child.restart:
                return child
            if child.restart_at is None:
                lived = now - child.started_at
                child.restart_delay = (
                    min(child.restart_delay * 2, MAX_RESTART_DELAY) if lived < QUICK_DEATH_SECONDS else 1.0
                )
                child.restart_at = now + child.restart_delay
                print(
                    f"run: the {child.name} exited ({describe_exit(code)}); starting it again in "
                    f"{child.restart_delay:.0f} s",
                    file=self.out,
                    flush=True,
                )
            elif now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
        return None

    def stop(self, timeout: float = 15.0) -> None:
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.terminate()
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def product_children(python: str, host: str, port: int) -> list[Child]:
    """The web server (its exit ends the run), one worker on every queue and the page sweeper."""
    return [
        Child(
            "web server", [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"], restart=False
        ),
        Child(
            "worker",
            # One process consumes every queue locally; production runs
            # separate workers for `pages` and `training` (docker/compose.yaml).
            [
                python,
                "-m",
                "celery",
                "-A",
                "hwr_site",
                "worker",
                "--queues",
                "default,pages,training",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--hostname",
                "local@%h",
            ],
            restart=True,
        ),  # fmt: skip
        Child(
            "page sweeper",
            [python, "manage.py", "sweep_pages", "--every", os.environ.get("PAGE_SWEEP_EVERY_SECONDS", "20")],
            restart=True,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HWR_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HWR_PORT", "8000")))
    options = parser.parse_args()

    broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    try:
        redis = find_or_start_redis(broker_url)
    except RuntimeError as error:
        print(f"Nothing answers at {broker_url} and no Redis could be started: {error}", file=sys.stderr)
        return 1
    env = {**os.environ, "CELERY_BROKER_URL": redis.url, "PYTHONUNBUFFERED": "1"}
    if redis.process:
        print(f"Nothing answers at {broker_url}: started a private Redis at {redis.url} ({redis.binary})")
    else:
        print(f"Using the Redis at {redis.url}")

    supervisor = Supervisor(product_children(sys.executable, options.host, options.port), env=env)
    supervisor.start()
    url = f"http://{options.host}:{options.port}/"
    print(f"\n  Handwriting recognition is starting at {url}\n  Ctrl-C stops it.\n")

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    ended = None
    try:
        while not stopping and ended is None:
            ended = supervisor.poll()
            time.sleep(0.3)
    finally:
        supervisor.stop()
        redis.stop()
    if ended is not None and not stopping:
        reason = describe_exit(ended.process.returncode)
        print(f"Stopped because the {ended.name} exited ({reason})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
