import signal
import threading

from django.core.management.base import BaseCommand

from gonghui.core import jobs


class Command(BaseCommand):
    help = "Run background work: roll-up folding and other periodic jobs, until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every job once and exit")
        parser.add_argument("--tick", type=float, default=0.5, help="seconds between checks")

    def handle(self, *args, once: bool, tick: float, **options):
        if once:
            for name in jobs.run_due(now=float("inf")):
                self.stdout.write(f"ran {name}")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        for lane in jobs.lanes():
            names = sorted(job.name for job in jobs.JOBS.values() if job.lane == lane)
            self.stdout.write(f"Worker lane {lane}: {', '.join(names)}")
        try:
            jobs.serve(stop, tick=tick)
        except KeyboardInterrupt:
            stop.set()
        self.stdout.write("Worker stopped.")
