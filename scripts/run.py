"""Run the product locally: a Redis if none answers, the web server and a Celery worker.

Started by `./dev run` after migrations. Prints the URL, streams the children's
output, and on Ctrl-C (or when any child dies) stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.local_redis import find_or_start_redis

REPO_ROOT = Path(__file__).resolve().parent.parent


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

    python = sys.executable
    children = [
        subprocess.Popen(
            [python, "manage.py", "runserver", f"{options.host}:{options.port}", "--noreload"],
            cwd=REPO_ROOT,
            env=env,
        ),
        subprocess.Popen(
            # One process consumes every queue locally; production runs
            # separate workers for `pages` and `training` (docker/compose.yaml).
            [python, "-m", "celery", "-A", "hwr_site", "worker", "--queues", "default,pages,training",
             "--concurrency", "1", "--loglevel", "INFO", "--hostname", "local@%h"],
            cwd=REPO_ROOT,
            env=env,
        ),
    ]  # fmt: skip
    url = f"http://{options.host}:{options.port}/"
    print(f"\n  Handwriting recognition is starting at {url}\n  Ctrl-C stops it.\n")

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.3)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        redis.stop()
    failed = [child.args[2] for child in children if child.returncode not in (0, -signal.SIGTERM, None)]
    if failed and not stopping:
        print(f"Stopped because a process exited: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
