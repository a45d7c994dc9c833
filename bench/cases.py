"""Worker cases: filing, closing and the deadline sweep through the services, and the case
figures page read from the roll-ups against the same figures aggregated from the case
table on request.

`python bench/run.py cases [--cases N] [--cases-sqlite]` runs this file as a child process
against a fresh database (PostgreSQL `gonghui_bench_cases`, or SQLite under var/bench),
with the tiny demo tree, so Django starts once with the right database. Reported: cases
filed/closed per second (one transaction each, as a phone would), the sweep's time over
the open cases a month later, and root figures read both ways (median ms, ratio) with a
check that both give the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The child's database, passed by the parent: importing common points DATABASE_URL at
# the shared bench database.
_CHILD_DB = os.environ.get("GONGHUI_CASES_BENCH_URL")

from common import REPO, SERVER, VAR_DIR, create_db, db_exists, drop_db, ms, save, table  # noqa: E402

if _CHILD_DB:
    os.environ["DATABASE_URL"] = _CHILD_DB

CASES_DB = "gonghui_bench_cases"


def add_cases_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", type=int, default=3000, help="cases to file (cases bench)")
    parser.add_argument("--cases-sqlite", action="store_true", help="cases bench on SQLite")


def bench_cases(args: argparse.Namespace) -> dict[str, Any]:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    if args.cases_sqlite:
        path = VAR_DIR / "cases.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        if db_exists(CASES_DB):
            drop_db(CASES_DB)
        create_db(CASES_DB)
        url = f"{SERVER}/{CASES_DB}"
    out = VAR_DIR / "cases-result.json"
    env = {**os.environ, "GONGHUI_CASES_BENCH_URL": url, "GONGHUI_VAR_DIR": str(VAR_DIR)}
    try:
        subprocess.run(
            [sys.executable, __file__, "--child", str(out), str(args.cases)],
            env=env,
            cwd=REPO,
            check=True,
        )
    finally:
        if not args.cases_sqlite and db_exists(CASES_DB):
            drop_db(CASES_DB)
    data = json.loads(out.read_text())
    data["database"] = "sqlite" if args.cases_sqlite else "postgresql"
    table(
        f"Worker cases ({data['database']}, {data['cases']:,} cases, tiny demo tree)",
        ["what", "figure"],
        [
            ["file_case, one transaction each", f"{data['filed_per_s']:.0f}/s"],
            ["accept + close, one transaction each", f"{data['closed_per_s']:.0f}/s"],
            ["sweep a month later (open cases)", f"{data['sweep_s']:.2f} s, {data['sweep']}"],
            ["root figures from the roll-ups (median)", ms(data["rollup_ms"])],
            ["the same aggregated from cases (median)", ms(data["aggregate_ms"])],
            ["ratio aggregate / roll-up", f"{data['ratio']:.1f}x"],
            ["both give the same figures", str(data["same"])],
        ],
    )
    save(f"cases-{data['database']}", data)
    return data


def _child(out: str, n: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gonghui.settings")
    import datetime
    import io
    from unittest import mock

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from gonghui.cases import figures, selectors, services
    from gonghui.cases.models import Case, CaseCategory, CaseStatus
    from gonghui.orgs.models import Member, MemberStatus, Org
    from gonghui.orgs.scoping import SYSTEM
    from gonghui.stats import services as stats

    call_command("migrate", verbosity=0)
    call_command("demo", "--scale", "tiny", stdout=io.StringIO())
    rng = random.Random(7)
    members = list(Member.objects.filter(status=MemberStatus.ACTIVE).select_related("unit")[:2000])
    categories = list(CaseCategory.values)
    started = time.perf_counter()
    made = []
    for i in range(n):
        made.append(
            services.file_case(
                SYSTEM,
                member=rng.choice(members),
                data=services.CaseInput(
                    rng.choice(categories),
                    f"诉求{i}",
                    "公司拖欠工资，多次讨要未果，请工会帮助。",
                    conceal_from_employer_union=rng.random() < 0.2,
                ),
                channel="phone",
            )
        )
    filed_s = time.perf_counter() - started
    to_close = made[: int(n * 0.6)]
    started = time.perf_counter()
    for case in to_close:
        case = services.accept_case(SYSTEM, case)
        services.close_case(
            SYSTEM,
            case,
            closing=services.Closing("resolved", "已解决", rng.randint(0, 9) * 1000),
        )
    closed_s = time.perf_counter() - started
    later = timezone.now() + datetime.timedelta(days=30)
    started = time.perf_counter()
    with mock.patch("django.utils.timezone.now", return_value=later):
        sweep = services.sweep_cases(today=timezone.localdate(later))
    sweep_s = time.perf_counter() - started
    stats.fold_pending()
    root = Org.objects.get(parent__isnull=True)

    def rollup() -> dict[int, tuple[int, int, int]]:
        total, children = selectors.case_figures(root, SYSTEM)
        return {
            f.org.pk: (f.get(figures.FILED), f.get(figures.CLOSED), f.get(figures.OPEN))
            for f in [total, *children]
        }

    def aggregate() -> dict[int, tuple[int, int, int]]:
        children = list(Org.objects.filter(parent=root).values_list("pk", flat=True))
        result = {}
        with connection.cursor() as cursor:
            for org_id, depth in [(root.pk, 0)] + [(c, 1) for c in children]:
                cursor.execute(
                    "SELECT count(*), "
                    "sum(CASE WHEN c.status = %s THEN 1 ELSE 0 END), "
                    "sum(CASE WHEN c.status <> %s THEN 1 ELSE 0 END) "
                    f'FROM "{Case._meta.db_table}" c JOIN "{Org._meta.db_table}" o '
                    f"ON o.id = c.handling_org_id WHERE o.ancestor_{depth} = %s",
                    [CaseStatus.CLOSED, CaseStatus.CLOSED, org_id],
                )
                filed, closed, still_open = cursor.fetchone()
                result[org_id] = (filed, closed or 0, still_open or 0)
        return result

    def median_ms(fn: Any, runs: int = 15) -> tuple[float, Any]:
        fn()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            value = fn()
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times), value

    rollup_ms, by_rollup = median_ms(rollup)
    aggregate_ms, by_aggregate = median_ms(aggregate)
    Path(out).write_text(
        json.dumps(
            {
                "cases": n,
                "filed_per_s": n / filed_s,
                "closed_per_s": len(to_close) / closed_s,
                "sweep_s": sweep_s,
                "sweep": sweep,
                "rollup_ms": rollup_ms,
                "aggregate_ms": aggregate_ms,
                "ratio": aggregate_ms / rollup_ms if rollup_ms else 0,
                "same": by_rollup == by_aggregate,
                "orgs": Org.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]))
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        add_cases_arguments(parser)
        bench_cases(parser.parse_args())
