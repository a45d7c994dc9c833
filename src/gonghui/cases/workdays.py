"""Working days (工作日): Monday to Friday, less public holidays, plus make-up workdays
(调休上班) — the exceptions of each year are rows of `WorkCalendarDay`.

"Acknowledge within 2 working days" of a case filed on a Friday before a holiday week
means the second working day after the filing day; the filing day itself never counts.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from gonghui.cases.models import WorkCalendarDay

DEFAULT_CALENDAR_FILE = Path(__file__).parent / "data" / "cn_calendar.json"
ONE_DAY = datetime.timedelta(days=1)


class WorkCalendar:
    """The exceptions between two days, read once; answers many questions cheaply (the
    deadline sweep asks for thousands of cases)."""

    def __init__(self, exceptions: dict[datetime.date, bool]) -> None:
        self.exceptions = exceptions

    @classmethod
    def around(cls, start: datetime.date, end: datetime.date) -> WorkCalendar:
        # Wide margins: a deadline of 30 working days across a Spring Festival lands
        # well within 90 calendar days.
        rows = WorkCalendarDay.objects.filter(
            day__gte=start - datetime.timedelta(days=120),
            day__lte=end + datetime.timedelta(days=120),
        ).values_list("day", "is_workday")
        return cls(dict(rows))

    def is_workday(self, day: datetime.date) -> bool:
        exception = self.exceptions.get(day)
        if exception is not None:
            return exception
        return day.weekday() < 5

    def add(self, start: datetime.date, days: int) -> datetime.date:
        """The `days`-th working day after `start` (start itself not counted)."""
        day = start
        remaining = days
        while remaining > 0:
            day += ONE_DAY
            if self.is_workday(day):
                remaining -= 1
        return day

    def between(self, start: datetime.date, end: datetime.date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            day += ONE_DAY
            if self.is_workday(day):
                count += 1
        return count


def add_workdays(start: datetime.date, days: int) -> datetime.date:
    return WorkCalendar.around(start, start + datetime.timedelta(days=days * 2)).add(start, days)


def workdays_between(start: datetime.date, end: datetime.date) -> int:
    return WorkCalendar.around(start, end).between(start, end)


def read_calendar_file(
    path: Path = DEFAULT_CALENDAR_FILE,
) -> dict[int, list[tuple[datetime.date, bool, str]]]:
    """{year: [(day, is_workday, note)]} from a file in the shape of cn_calendar.json:
    holidays as [first, last, name] ranges, make-up workdays as [day, name]."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    years: dict[int, list[tuple[datetime.date, bool, str]]] = {}
    for year, spec in data["years"].items():
        days: list[tuple[datetime.date, bool, str]] = []
        for first, last, name in spec.get("holidays", []):
            day = datetime.date.fromisoformat(first)
            end = datetime.date.fromisoformat(last)
            while day <= end:
                days.append((day, False, name))
                day += ONE_DAY
        for day_text, name in spec.get("workdays", []):
            days.append((datetime.date.fromisoformat(day_text), True, name))
        years[int(year)] = days
    return years
