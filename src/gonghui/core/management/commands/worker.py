import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from gonghui.core import jobs


class Command(BaseCommand):
    help = "Run background work: roll-up folding and other periodic jobs, until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every job once and exit")
        parser.add_argument("--tick", type=float, default=1.0, help="seconds between checks")

    def handle(self, *args, once: bool, tick: float, **options):
        if once:
            for name in jobs.run_due(now=float("inf")):
                self.stdout.write(f"ran {name}")
            return
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        self.stdout.write(f"Worker running jobs: {', '.join(sorted(jobs.JOBS))}")
        try:
            while not stopping:
                close_old_connections()  # a long-running process must not keep dead ones
                jobs.run_due()
                time.sleep(tick)
        except KeyboardInterrupt:
            pass
        self.stdout.write("Worker stopped.")
