"""A throw-away site for benchmarks: its own database, media folder and Redis, and a real worker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def isolated_site(prefix: str, extra_environment: dict[str, str] | None = None):
    """Point Django at a fresh temporary site, set it up and migrate it; returns (folder, redis)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from scripts.local_redis import find_or_start_redis

    work = Path(tempfile.mkdtemp(prefix=prefix))
    redis = find_or_start_redis(None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "hwr_site.settings",
            "VAR_DIR": str(work),
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(work / "media"),
            "CELERY_BROKER_URL": redis.url,
            "DATABASE_CONN_MAX_AGE": "0",
            **(extra_environment or {}),
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return work, redis


def start_worker(queues: str) -> subprocess.Popen:
    """A real Celery worker process on the given queues, with this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hwr_site", "worker", "--pool=solo", "-Q", queues,
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=REPO_ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
