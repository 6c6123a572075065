"""The local supervisor of `./dev run` (scripts/run.py): a dead worker is started again, the site stays up."""

from __future__ import annotations

import io
import os
import signal
import sys

from scripts.run import Child, Supervisor, product_children
from tests.helpers import wait_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_a_killed_worker_is_started_again_and_the_web_server_keeps_running(tmp_path):
    web = Child("web server", SLEEPER, restart=False)
    worker = Child("worker", SLEEPER, restart=True)
    log = io.StringIO()
    supervisor = Supervisor([web, worker], env=dict(os.environ), cwd=tmp_path, out=log)
    supervisor.start()
    try:
        first_worker = worker.process.pid
        web_pid = web.process.pid
        os.kill(first_worker, signal.SIGKILL)

        def restarted():
            assert supervisor.poll() is None  # the run goes on
            return worker.process.pid != first_worker and worker.process.poll() is None

        wait_for(restarted, timeout=15, interval=0.1, message="the worker to be started again")
        assert worker.restarts == 1
        assert web.process.pid == web_pid and web.process.poll() is None
        assert "the worker exited (killed by SIGKILL)" in log.getvalue()

        # The web server's own exit ends the run.
        os.kill(web_pid, signal.SIGKILL)
        ended = wait_for(supervisor.poll, timeout=10, message="the supervisor to notice the web server")
        assert ended is web
    finally:
        supervisor.stop(timeout=5)
    assert worker.process.poll() is not None


def test_a_worker_that_keeps_dying_at_start_waits_longer_each_time(tmp_path):
    worker = Child("worker", [sys.executable, "-c", "raise SystemExit(3)"], restart=True)
    supervisor = Supervisor([worker], env=dict(os.environ), cwd=tmp_path, out=io.StringIO())
    supervisor.start()
    try:
        delays = []
        for _ in range(3):
            worker.process.wait(timeout=10)
            supervisor.poll()
            delays.append(worker.restart_delay)
            worker.restart_at = 0  # do not wait out the delay in the test
            supervisor.poll()
        assert delays == sorted(delays) and delays[-1] > delays[0]
    finally:
        supervisor.stop(timeout=5)


def test_the_local_run_supervises_a_worker_and_the_page_sweeper():
    children = {child.name: child for child in product_children("python", "127.0.0.1", 8000)}
    assert not children["web server"].restart
    assert children["worker"].restart and "worker" in children["worker"].command
    assert children["page sweeper"].restart
    assert children["page sweeper"].command[1:4] == ["manage.py", "sweep_pages", "--every"]
