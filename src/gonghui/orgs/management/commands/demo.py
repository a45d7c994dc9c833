import time

from django.core.management.base import BaseCommand, CommandError

from gonghui.orgs.demo import SCALES, DemoBuilder, demo_account_lines
from gonghui.orgs.models import Org


class Command(BaseCommand):
    help = (
        "Load the Sichuan demo: the real union tree down to townships, "
        "then generated unions and members."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=sorted(SCALES), default="small")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--province", default="51", help="province code (51 = Sichuan)")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when unions already exist"
        )

    def handle(self, *args, scale, seed, province, if_empty, **options):
        if Org.objects.exists():
            if if_empty:
                self.stdout.write("Demo data already present; nothing loaded.")
                return
            raise CommandError("The database already holds unions; use an empty database.")
        started = time.monotonic()
        builder = DemoBuilder(scale=scale, seed=seed, province=province)
        progress = (lambda line: self.stdout.write(line)) if options["verbosity"] > 1 else None
        summary = builder.build(progress=progress)
        self.stdout.write(
            f"Demo ({scale}, seed {seed}): {summary.orgs} unions, {summary.members} members "
            f"in {time.monotonic() - started:.1f} s."
        )
        if options["verbosity"] > 0:
            self.stdout.write("Accounts:")
            for line in demo_account_lines():
                self.stdout.write(line)
