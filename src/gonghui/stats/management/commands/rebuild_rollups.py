import time

from django.core.management.base import BaseCommand, CommandError

from gonghui.stats.services import rebuild


class Command(BaseCommand):
    help = "Recompute every figure from the facts; --check only compares and reports."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="change nothing; exit 1 on any difference"
        )
        parser.add_argument("--limit", type=int, default=50, help="differences to list")

    def handle(self, *args, check: bool, limit: int, **options):
        started = time.monotonic()
        differences = rebuild(check=check, limit=limit)
        took = time.monotonic() - started
        if check:
            if differences:
                for difference in differences:
                    self.stderr.write(str(difference))
                raise CommandError(
                    f"{len(differences)}{'+' if len(differences) >= limit else ''} "
                    "figures differ from the facts."
                )
            self.stdout.write(f"All figures agree with the facts ({took:.1f} s).")
            return
        self.stdout.write(
            f"Rebuilt every figure from the facts in {took:.1f} s "
            f"({len(differences)} had differed)."
        )
