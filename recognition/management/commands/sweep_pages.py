"""Publish again the pages no worker would otherwise take: once, or every N seconds (the sweeper)."""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from recognition.services.pages import pages_sweep


class Command(BaseCommand):
    help = (
        "Publish queued pages the broker never got (it was down at upload) or lost, and pages whose "
        "worker died mid-page. With --every, run until stopped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--every", type=float, default=None, metavar="SECONDS", help="sweep again every SECONDS"
        )

    def handle(self, *args, every: float | None = None, **options) -> None:
        if every is None:
            self.report(pages_sweep())
            return
        while True:
            # A long-running sweeper must outlive a database restart: drop a connection that broke.
            close_old_connections()
            try:
                self.report(pages_sweep())
            except Exception as error:  # the next sweep tries again; a sweeper that dies helps nobody
                self.stderr.write(f"sweep failed: {error}")
            time.sleep(every)

    def report(self, swept: dict[str, list[int]]) -> None:
        for reason, page_ids in swept.items():
            if page_ids:
                self.stdout.write(f"{reason}: {len(page_ids)} page(s) {page_ids}", ending="\n")
                self.stdout.flush()
