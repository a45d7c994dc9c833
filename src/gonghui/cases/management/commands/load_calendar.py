"""`gonghui load_calendar FILE --year YYYY`: set one year's holidays and make-up
workdays from a file shaped like cases/data/cn_calendar.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from gonghui.cases import services
from gonghui.cases.workdays import DEFAULT_CALENDAR_FILE, read_calendar_file
from gonghui.orgs.scoping import SYSTEM


class Command(BaseCommand):
    help = "Set the working-day calendar (public holidays, make-up workdays) of a year."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", nargs="?", default=str(DEFAULT_CALENDAR_FILE))
        parser.add_argument("--year", type=int, action="append", help="only these years")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            years = read_calendar_file(Path(options["file"]))
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        wanted = options["year"] or sorted(years)
        for year in wanted:
            if year not in years:
                raise CommandError(f"{year} is not in {options['file']}")
            try:
                n = services.set_calendar_year(SYSTEM, year=year, days=years[year])
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
            self.stdout.write(f"{year}: {n} holidays and make-up workdays")
