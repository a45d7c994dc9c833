"""The roll-up engine (gonghui.stats) at Sichuan scale: dashboard reads against computing
the same figures on request, and the write path of check-in facts under load.

`python bench/run.py rollup` prepares a throw-away copy of the bench database (PostgreSQL:
CREATE DATABASE … TEMPLATE gonghui_bench; `--sqlite`: a copy of a small SQLite demo) and
runs this file as a child process pointed at the copy, so Django starts once with the
right database; the child writes its results, the parent saves them and drops the copy.

Check-ins do not exist as a model yet. A simulated check-in is what the check-in service
will do, in one transaction: insert the fact row (here into the plain table
bench_checkin), `stats.services.mark_distinct(metric="bench.reached", key=member,
live=True)` and one `stats.services.emit_counts` of its changes and `bench.checkins` at the
member's unit, as `activities.services.check_in` does for a check-in taken now.
It is compared with a bare single-row INSERT (bench_bare) and with a naive design that
inserts the fact and UPDATEs the province, city and county counter rows in the same
transaction (bench_hot + bench_hot_counter). See bench/README.md for what is measured.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    CITY_CODE,
    COUNTY_CODE,
    DB,
    GONGHUI,
    REPO,
    ROOT_CODE,
    SERVER,
    VAR_DIR,
    close_django_connections,
    create_db,
    db_exists,
    drop_db,
    ms,
    query,
    run_gonghui,
    sample,
    save,
    summary,
    table,
)

ROLLUP_DB = f"{DB}_rollup"
CHECKINS = "bench.checkins"
REACHED = "bench.reached"
DESIGNS = ("bare", "engine", "hot-row")
LEVELS = ("province", "city", "county", "grassroots", "workshop")
GOAL_P95_MS = 20.0
GOAL_ROOT_VS_WORKSHOP = 2.0
GOAL_VS_CTE = 100.0
GOAL_RATE = 1000


# --- parent: prepare a copy, run the child, save ----------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rollup")
    group.add_argument(
        "--sqlite",
        action="store_true",
        help="rollup on SQLite: a copy of a small demo in var/bench (built when missing)",
    )
    group.add_argument("--sqlite-scale", default="small", help="demo scale for --sqlite")
    group.add_argument("--writers", type=int, default=4, help="concurrent writer processes")
    group.add_argument("--rate", type=int, default=GOAL_RATE, help="check-ins/s to sustain")
    group.add_argument("--seconds", type=float, default=30, help="length of the sustained run")
    group.add_argument(
        "--burst-seconds", type=float, default=10, help="full-speed run per write design"
    )
    group.add_argument(
        "--dashboard-rate",
        type=float,
        default=0,
        help="dashboards viewed per second during the sustained run, over the five orgs in "
        "turn (each an engine read and a GET of the page); 0: back to back, which keeps a "
        "core of this machine's two busy by itself",
    )
    group.add_argument("--single", type=int, default=1000, help="check-ins of one writer")
    group.add_argument("--runs", type=int, default=100, help="timed runs per read (at most)")
    group.add_argument(
        "--budget", type=float, default=15, help="seconds per read approach and org (at least 3)"
    )


def bench_rollup(args: argparse.Namespace) -> dict[str, Any]:
    name = "rollup-sqlite" if args.sqlite else "rollup"
    scratch: Path | None = None
    started = time.perf_counter()
    if args.sqlite:
        source = VAR_DIR / f"rollup-{args.sqlite_scale}.sqlite3"
        if not source.exists():
            build_sqlite_demo(source, args.sqlite_scale)
        scratch = VAR_DIR / "rollup-run.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, scratch)
        url = f"sqlite:///{scratch}"
        run_gonghui(["migrate", "--noinput", "-v", "0"], "", database_url=url)
        where = f"a copy of {source.relative_to(REPO)}"
    else:
        if not db_exists(DB) or not query(DB, "SELECT EXISTS (SELECT 1 FROM orgs_org)")[0][0]:
            raise SystemExit(f"rollup: no demo in {DB}; run `python bench/run.py demo` first")
        close_django_connections()
        drop_db(ROLLUP_DB)
        create_db(ROLLUP_DB, template=DB)
        url = f"{SERVER}/{ROLLUP_DB}"
        # The code may have gained migrations since the demo was built (new apps' tables).
        run_gonghui(["migrate", "--noinput", "-v", "0"], ROLLUP_DB)
        where = f"{ROLLUP_DB} (a copy of {DB})"
    copy_s = time.perf_counter() - started
    print(f"rollup: running in {where} ({copy_s:.1f} s to copy)", flush=True)
    out = Path(tempfile.mkstemp(prefix="gonghui-rollup-", suffix=".json")[1])
    child = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--database-url",
        url,
        "--out",
        str(out),
        *[
            f"--{k.replace('_', '-')}={getattr(args, k)}"
            for k in (
                "writers",
                "rate",
                "seconds",
                "burst_seconds",
                "single",
                "runs",
                "budget",
                "dashboard_rate",
            )
        ],
    ]
    try:
        env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
        code = subprocess.run(child, env=env, cwd=REPO, check=False).returncode
        if code != 0:
            raise SystemExit(f"rollup: the benchmark process failed ({code})")
        data = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
        if scratch is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        else:
            drop_db(ROLLUP_DB)
    data["copy_db_s"] = round(copy_s, 1)
    data["database"] = "sqlite" if args.sqlite else "postgresql"
    report(data)
    save(name, data)
    return data


def build_sqlite_demo(path: Path, scale: str) -> None:
    print(f"rollup: building a {scale} SQLite demo in {path.relative_to(REPO)}", flush=True)
    tmp = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{tmp}"
    run_gonghui(["migrate", "--noinput", "-v", "0"], "", database_url=url)
    run_gonghui(["demo", "--scale", scale], "", database_url=url)
    import sqlite3

    conn = sqlite3.connect(tmp)  # fold the WAL into the file before copying it
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)


# --- child: everything in one Django process (plus forked writers) -----------------------


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rate", type=int, default=GOAL_RATE)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst-seconds", type=float, default=10)
    parser.add_argument("--single", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--budget", type=float, default=15)
    parser.add_argument("--dashboard-rate", type=float, default=0)
    opts = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = opts.database_url
    (VAR_DIR / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns without it
    import django

    django.setup()
    data = Run(opts).run()
    Path(opts.out).write_text(json.dumps(data, ensure_ascii=False, default=str))


class Run:
    def __init__(self, opts: argparse.Namespace):
        from django.db import connection
        from django.utils import timezone

        self.opts = opts
        self.folded_only_reads = 0  # dashboard reads that showed the folded totals alone
        self.url = opts.database_url
        self.vendor = connection.vendor
        self.day = timezone.localdate()
        self.rng = random.Random(2026)
        self.data: dict[str, Any] = {"options": {k: v for k, v in vars(opts).items()}}
        del self.data["options"]["out"]

    # -- setup --

    def run(self) -> dict[str, Any]:
        self.register_metrics()
        self.pick_orgs()
        self.create_tables()
        self.load_members()
        self.data["writes"] = self.write_designs()
        single = self.data["writes"]["single"]
        bare = single["bare"]["latency"]["median_ms"]
        self.data["write_cost_over_bare_ms"] = {
            design: round(single[design]["latency"]["median_ms"] - bare, 3) for design in DESIGNS
        }
        self.data["fold_backlog"] = self.fold_backlog()
        self.data["sustained"] = self.sustained()
        self.data["exact"] = self.exactness()
        self.data["reads"] = self.reads()
        self.data["goals"] = goals(self.data)
        return self.data

    def register_metrics(self) -> None:
        from gonghui.stats.registry import Metric, register_metric

        # Shown on the dashboard like a real check-in app's figures would be.
        register_metric(Metric(CHECKINS, "签到人次 (bench)", "bench", order=90))
        register_metric(
            Metric(REACHED, "签到人数 (bench)", "bench", distinct=True, coverage_of="members")
        )

    def pick_orgs(self) -> None:
        from django.contrib.auth import get_user_model

        from gonghui.orgs.models import Org
        from gonghui.stats.models import SubtreeCount

        def members(org_ids: list[int]) -> dict[int, int]:
            rows = SubtreeCount.objects.filter(org_id__in=org_ids, metric="members")
            return dict(rows.values_list("org_id", "value"))

        def largest(parent: Org, kind: str, code: str | None = None) -> Org:
            if code:
                found = Org.objects.filter(code=code, kind=kind, parent=parent).first()
                if found is not None:
                    return found
            children = list(Org.objects.filter(parent=parent, kind=kind, status="active"))
            counts = members([c.pk for c in children])
            return max(children, key=lambda c: (counts.get(c.pk, 0), -c.pk))

        def largest_below(top: Org, kind: str) -> Org:
            ids = list(
                Org.objects.filter(**{f"ancestor_{top.depth}": top.pk}, kind=kind)
                .filter(status="active")
                .values_list("pk", flat=True)
            )
            counts = members(ids)
            return Org.objects.get(pk=max(ids, key=lambda pk: (counts.get(pk, 0), -pk)))

        root = Org.objects.get(code=ROOT_CODE)
        city = largest(root, "city", CITY_CODE)
        county = largest(city, "county", COUNTY_CODE)
        grassroots = largest_below(county, "grassroots")
        workshop = largest_below(grassroots, "branch")
        self.orgs = dict(zip(LEVELS, (root, city, county, grassroots, workshop), strict=True))
        user_model = get_user_model()
        self.admin = user_model.objects.filter(is_superuser=True, is_active=True).first()
        if self.admin is None:
            self.admin = user_model.objects.create_superuser("bench-admin", None, None)
        self.data["orgs"] = {
            level: {
                "id": org.pk,
                "code": org.code,
                "name": org.name,
                "depth": org.depth,
                "children": Org.objects.filter(parent=org, status="active").count(),
                "orgs_in_subtree": Org.objects.filter(**{f"ancestor_{org.depth}": org.pk}).count(),
            }
            for level, org in self.orgs.items()
        }

    def create_tables(self) -> None:
        from django.db import connection

        pk = "bigserial PRIMARY KEY" if self.vendor == "postgresql" else "INTEGER PRIMARY KEY"
        with connection.cursor() as cursor:
            for name in ("bench_checkin", "bench_bare", "bench_hot"):
                cursor.execute(
                    f"CREATE TABLE {name} (id {pk}, member_id bigint NOT NULL, "
                    "unit_id bigint NOT NULL, day date NOT NULL)"
                )
            cursor.execute(
                "CREATE TABLE bench_hot_counter (org_id bigint NOT NULL, "
                "metric varchar(60) NOT NULL, value bigint NOT NULL, PRIMARY KEY (org_id, metric))"
            )
            city = self.orgs["city"]
            cursor.execute(
                "INSERT INTO bench_hot_counter (org_id, metric, value) "
                "SELECT id, %s, 0 FROM orgs_org WHERE id IN (%s, %s) OR parent_id = %s",
                [CHECKINS, self.orgs["province"].pk, city.pk, city.pk],
            )

    def load_members(self) -> None:
        """Every active member of the one city, shuffled: (member, unit, province, city,
        county). Writers take consecutive slices, so each check-in is usually the member's
        first this month (the costliest path: three new distinct marks)."""
        from django.db import connection

        city = self.orgs["city"]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT m.id, m.unit_id, o.ancestor_0, o.ancestor_1, o.ancestor_2 "
                "FROM orgs_member m JOIN orgs_org o ON o.id = m.unit_id "
                "WHERE o.ancestor_1 = %s AND m.status = 'active' ORDER BY m.id",
                [city.pk],
            )
            self.members = [tuple(row) for row in cursor.fetchall()]
        self.rng.shuffle(self.members)
        self.next_member = 0
        self.data["city_members"] = len(self.members)

    def take(self, n: int) -> list[tuple[int, ...]]:
        out = []
        for _ in range(n):
            out.append(self.members[self.next_member % len(self.members)])
            self.next_member += 1
        return out

    # -- writes --

    def writers(
        self,
        design: str,
        n: int,
        *,
        seconds: float | None = None,
        count: int | None = None,
        rate: float | None = None,
    ) -> dict[str, Any]:
        """`n` forked writer processes of `design`, together at `rate` check-ins/s (or
        flat out), for `seconds` or `count` check-ins each; their throughput and latency."""
        from django.db import connections

        if seconds:
            per_writer = int((rate / n if rate else 800) * seconds * 1.2) + 10
        else:
            per_writer = count or 0
        if design.startswith("engine"):  # members not yet counted: each check-in a first one
            slices = [self.take(per_writer) for _ in range(n)]
        else:  # no distinct marks: any members do
            pool = self.members
            slices = [
                [pool[(i * per_writer + j) % len(pool)] for j in range(per_writer)]
                for i in range(n)
            ]
        connections.close_all()  # nothing open crosses the fork
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()
        start_at = time.monotonic() + 0.5
        procs = [
            ctx.Process(
                target=writer,
                args=(design, slices[i], self.day, start_at, seconds, count, rate, n, results),
            )
            for i in range(n)
        ]
        for p in procs:
            p.start()
        return {"results": results, "procs": procs, "start_at": start_at, "design": design}

    def collect(self, running: dict[str, Any]) -> dict[str, Any]:
        parts = [running["results"].get() for _ in running["procs"]]
        for p in running["procs"]:
            p.join()
        errors = [part["error"] for part in parts if part.get("error")]
        if errors:
            raise SystemExit(f"writer failed: {errors[0]}")
        latencies = [x for part in parts for x in part["latencies_ms"]]
        elapsed = max(part["elapsed_s"] for part in parts)
        done = sum(part["done"] for part in parts)
        return {
            "design": running["design"],
            "writers": len(parts),
            "checkins": done,
            "elapsed_s": round(elapsed, 2),
            "per_s": round(done / elapsed, 1) if elapsed else None,
            "latency": summary(latencies),
        }

    def write_designs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"single": {}, "concurrent": {}}
        for design in DESIGNS:
            print(f"rollup: {design}, 1 writer, {self.opts.single} check-ins", flush=True)
            out["single"][design] = self.collect(self.writers(design, 1, count=self.opts.single))
        for design in DESIGNS:
            print(
                f"rollup: {design}, {self.opts.writers} writers flat out in one city, "
                f"{self.opts.burst_seconds:g} s",
                flush=True,
            )
            out["concurrent"][design] = self.collect(
                self.writers(design, self.opts.writers, seconds=self.opts.burst_seconds)
            )
        return out

    def fold_backlog(self) -> dict[str, Any]:
        """Fold what the write runs left pending (no worker ran), as the worker would."""
        from gonghui.stats.models import FactDelta
        from gonghui.stats.services import fold_and_tidy

        pending = FactDelta.objects.count()
        started = time.perf_counter()
        folded = 0
        while True:
            n = fold_and_tidy(max_rows=10**9)
            folded += n
            if not n:
                break
        took = time.perf_counter() - started
        print(f"rollup: folded a backlog of {folded:,} changes in {took:.1f} s", flush=True)
        return {
            "pending": pending,
            "folded": folded,
            "seconds": round(took, 2),
            "per_s": round(folded / took) if took else None,
        }

    def start_worker(self) -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": self.url, "PYTHONUNBUFFERED": "1"}
        self.worker_log = VAR_DIR / "rollup-worker.log"
        return subprocess.Popen(
            [*GONGHUI, "worker"],
            env=env,
            cwd=REPO,
            stdout=self.worker_log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def sustained(self) -> dict[str, Any]:
        """Writers at the goal rate in one city, `gonghui worker` folding every second,
        and this process viewing dashboards all the while, `--dashboard-rate` a second
        (cadres opening their dashboards while a province checks in)."""
        from django.test import Client

        from gonghui.stats.models import FactDelta
        from gonghui.stats.selectors import freshness

        client = Client()
        client.force_login(self.admin)
        worker = self.start_worker()
        opts = self.opts
        print(
            f"rollup: sustained: {opts.writers} writers at {opts.rate:,} check-ins/s in total, "
            f"{opts.seconds:g} s, gonghui worker folding, dashboards viewed meanwhile "
            + (f"({opts.dashboard_rate:g}/s)" if opts.dashboard_rate else "(back to back)"),
            flush=True,
        )
        interval = 1 / opts.dashboard_rate if opts.dashboard_rate else 0.0
        try:
            for org in self.orgs.values():  # warm up: templates, translations, connection
                self.engine_read(org)
                client.get(f"/orgs/{org.pk}/dashboard/")
            time.sleep(2)
            self.folded_only_reads = 0
            running = self.writers("engine", opts.writers, seconds=opts.seconds, rate=opts.rate)
            reads: dict[str, list[float]] = defaultdict(list)
            gets: dict[str, list[float]] = defaultdict(list)
            pending: list[int] = []
            while time.monotonic() < running["start_at"]:
                time.sleep(0.05)
            # Until the writers' time is up (not until they exit: a writer's results wait
            # in the queue's pipe, which only collect() drains).
            until = running["start_at"] + opts.seconds
            next_view = time.monotonic()
            while time.monotonic() < until:
                for level, org in self.orgs.items():
                    if interval:
                        next_view += interval
                        time.sleep(max(0.0, next_view - time.monotonic()))
                    t0 = time.perf_counter()
                    self.engine_read(org)
                    reads[level].append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    response = client.get(f"/orgs/{org.pk}/dashboard/")
                    gets[level].append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.status_code
                pending.append(freshness().pending)
            writes = self.collect(running)
            folded_only = self.folded_only_reads
            stopped = time.perf_counter()
            left = FactDelta.objects.count()
            while FactDelta.objects.exists() and time.perf_counter() - stopped < 600:
                time.sleep(0.2)
            catch_up = time.perf_counter() - stopped
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
        return {
            "writes": writes,
            "dashboard_under_load": {level: summary(reads[level]) for level in self.orgs},
            "get_under_load": {level: summary(gets[level]) for level in self.orgs},
            "pending_samples": {
                "n": len(pending),
                "median": statistics.median(pending) if pending else None,
                "max": max(pending) if pending else None,
            },
            "pending_when_writers_stopped": left,
            "folded_only_reads": folded_only,
            "catch_up_s": round(catch_up, 2),
        }

    def exactness(self) -> dict[str, Any]:
        from django.db import connection

        from gonghui.stats.models import SubtreeCount

        def total(org_id: int, metric: str) -> int:
            row = SubtreeCount.objects.filter(org_id=org_id, metric=metric).first()
            return row.value if row else 0

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), count(DISTINCT member_id) FROM bench_checkin")
            checkins, distinct = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM bench_hot")
            (hot,) = cursor.fetchone()
            cursor.execute(
                "SELECT org_id, value FROM bench_hot_counter WHERE org_id IN (%s, %s)",
                [self.orgs["province"].pk, self.orgs["city"].pk],
            )
            hot_counters = dict(cursor.fetchall())
        out = {
            "checkin_rows": checkins,
            "distinct_members": distinct,
            "first_checkin_share": round(distinct / checkins, 3) if checkins else None,
        }
        for level in ("province", "city"):
            pk = self.orgs[level].pk
            out[f"{level}_checkins"] = total(pk, CHECKINS)
            out[f"{level}_reached"] = total(pk, f"{REACHED}@all")
            out[f"{level}_hot_counter"] = hot_counters.get(pk)
        out["hot_rows"] = hot
        out["ok"] = all(
            out[f"{level}_checkins"] == checkins
            and out[f"{level}_reached"] == distinct
            and out[f"{level}_hot_counter"] == hot
            for level in ("province", "city")
        )
        print(f"rollup: figures exact after the run: {out['ok']}", flush=True)
        return out

    # -- reads --

    def shown(self) -> list[Any]:
        from gonghui.stats import selectors

        return selectors.metrics(headline_only=True)

    def engine_read(self, org: Any) -> dict[int, dict[str, int]]:
        """(a) what the dashboard reads (`stats.selectors.dashboard`): how fresh the figures
        are (the pending queue, up to 10,001), the headline and the children table — with
        the pending changes added while the queue is short (`LIVE_PENDING_LIMIT`), else
        the folded totals."""
        from gonghui.stats import selectors

        shown = self.shown()
        board = selectors.dashboard(org, self.admin, shown)
        self.folded_only_reads += not board.freshness.live
        head, rows = board.headline, board.rows
        names = {selectors.stored_name(m): m.code for m in shown}
        return {
            row.org.pk: {code: row.values[name] for name, code in names.items()}
            for row in [head, *rows]
        }

    def kinds(self) -> list[str]:
        return [m.code.removeprefix("orgs.") for m in self.shown() if m.code.startswith("orgs.")]

    def cte_sql(self) -> str:
        kinds = ", ".join(f"'{k}'" for k in self.kinds())
        return f"""
WITH RECURSIVE sub(id, top) AS (
    SELECT id, id FROM orgs_org WHERE id = %s
    UNION ALL
    SELECT o.id, CASE WHEN sub.id = %s THEN o.id ELSE sub.top END
    FROM orgs_org o JOIN sub ON o.parent_id = sub.id
)
SELECT sub.top, 'members', count(*) FROM orgs_member m JOIN sub ON m.unit_id = sub.id
WHERE m.status = 'active' GROUP BY sub.top
UNION ALL
SELECT sub.top, 'orgs.' || o.kind, count(*) FROM sub JOIN orgs_org o ON o.id = sub.id
WHERE o.dissolved_at IS NULL AND o.kind IN ({kinds}) GROUP BY sub.top, o.kind
UNION ALL
SELECT sub.top, '{CHECKINS}', count(*) FROM bench_checkin c JOIN sub ON c.unit_id = sub.id
GROUP BY sub.top
UNION ALL
SELECT sub.top, '{REACHED}', count(DISTINCT c.member_id) FROM bench_checkin c
JOIN sub ON c.unit_id = sub.id GROUP BY sub.top
"""

    def ancestor_sql(self, depth: int, mark: str = "%s") -> str:
        kinds = ", ".join(f"'{k}'" for k in self.kinds())
        col, child = f"ancestor_{depth}", f"ancestor_{depth + 1}"
        return f"""
SELECT o.{child}, 'members', count(*) FROM orgs_member m JOIN orgs_org o ON o.id = m.unit_id
WHERE o.{col} = {mark} AND m.status = 'active' GROUP BY o.{child}
UNION ALL
SELECT {child}, 'orgs.' || kind, count(*) FROM orgs_org
WHERE {col} = {mark} AND dissolved_at IS NULL AND kind IN ({kinds}) GROUP BY {child}, kind
UNION ALL
SELECT o.{child}, '{CHECKINS}', count(*) FROM bench_checkin c JOIN orgs_org o ON o.id = c.unit_id
WHERE o.{col} = {mark} GROUP BY o.{child}
UNION ALL
SELECT o.{child}, '{REACHED}', count(DISTINCT c.member_id) FROM bench_checkin c
JOIN orgs_org o ON o.id = c.unit_id WHERE o.{col} = {mark} GROUP BY o.{child}
"""

    @staticmethod
    def assemble(org_id: int, rows: list[tuple[Any, ...]]) -> dict[int, dict[str, int]]:
        """Rows (child or None/the org itself, metric, n) to {org and each child: values};
        the org's own figures are the sum over all its children and itself."""
        out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for key, metric, n in rows:
            n = int(n)
            out[org_id][metric] += n
            if key is not None and key != org_id:
                out[int(key)][metric] += n
        return out

    def cte_read(self, org: Any) -> dict[int, dict[str, int]]:
        """(b) recursive CTE over parent_id and the raw facts, per child."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(self.cte_sql(), [org.pk, org.pk])
            return self.assemble(org.pk, cursor.fetchall())

    def ancestor_read(self, org: Any) -> dict[int, dict[str, int]]:
        """(c) one indexed ancestor column, grouped by the next one."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(self.ancestor_sql(org.depth), [org.pk] * 4)
            return self.assemble(org.pk, cursor.fetchall())

    def duck_read(self, org: Any) -> dict[int, dict[str, int]]:
        """(d) the same GROUP BY in DuckDB over copies of the same tables."""
        rows = self.duck.execute(self.ancestor_sql(org.depth, "?"), [org.pk] * 4).fetchall()
        return self.assemble(org.pk, rows)

    def load_duckdb(self) -> dict[str, Any]:
        """Copy the facts DuckDB needs (orgs, members' unit and status, check-ins) through
        CSV files into an in-memory DuckDB; the time is reported apart from the queries."""
        import duckdb

        ancestors = ", ".join(f"ancestor_{d}" for d in range(10))
        tables = {
            "orgs_org": (
                f"SELECT id, parent_id, kind, dissolved_at, {ancestors} FROM orgs_org",
                {
                    "id": "BIGINT",
                    "parent_id": "BIGINT",
                    "kind": "VARCHAR",
                    "dissolved_at": "VARCHAR",
                    **{f"ancestor_{d}": "BIGINT" for d in range(10)},
                },
            ),
            "orgs_member": (
                "SELECT unit_id, status FROM orgs_member",
                {"unit_id": "BIGINT", "status": "VARCHAR"},
            ),
            "bench_checkin": (
                "SELECT member_id, unit_id, day FROM bench_checkin",
                {"member_id": "BIGINT", "unit_id": "BIGINT", "day": "DATE"},
            ),
        }
        started = time.perf_counter()
        self.duck = duckdb.connect()
        rows = {}
        with tempfile.TemporaryDirectory(prefix="gonghui-duck-") as tmp:
            for name, (sql, columns) in tables.items():
                path = Path(tmp) / f"{name}.csv"
                export_csv(sql, path)
                self.duck.execute(
                    f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, header = false, "
                    f"columns = {columns!r}, nullstr = '')",
                    [str(path)],
                )
                rows[name] = self.duck.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        took = time.perf_counter() - started
        print(f"rollup: loaded DuckDB in {took:.1f} s ({rows})", flush=True)
        return {"seconds": round(took, 2), "rows": rows, "threads": duck_threads(self.duck)}

    def reads(self) -> dict[str, Any]:
        from django.test import Client

        client = Client()
        client.force_login(self.admin)
        out: dict[str, Any] = {"duckdb_load": self.load_duckdb(), "levels": {}}
        opts = self.opts
        for level, org in self.orgs.items():
            print(f"rollup: reads at the {level} ({org.name})", flush=True)

            def get(org: Any = org) -> int:
                response = client.get(f"/orgs/{org.pk}/dashboard/")
                assert response.status_code == 200, response.status_code
                return response.status_code

            approaches: dict[str, Callable[[], Any]] = {
                "engine": lambda org=org: self.engine_read(org),
                "get": get,
                "cte": lambda org=org: self.cte_read(org),
                "ancestor": lambda org=org: self.ancestor_read(org),
                "duckdb": lambda org=org: self.duck_read(org),
            }
            results: dict[str, Any] = {}
            expected: dict[int, dict[str, int]] | None = None
            for name, fn in approaches.items():
                times, result = sample(fn, runs=opts.runs, budget_s=opts.budget)
                results[name] = summary(times)
                if name == "engine":
                    expected = result
                elif name != "get":
                    assert expected is not None
                    results[name]["same"] = same_figures(expected, result)
            out["levels"][level] = results
        return out


def same_figures(expected: dict[int, dict[str, int]], got: dict[int, dict[str, int]]) -> bool:
    """Every figure the baselines compute (members, orgs by kind, the bench's check-ins) of
    the org and its (active) children equal; missing means zero. The dashboard also shows
    the other domains' headline figures (activities, cases, ...), which they do not."""
    return all(
        got.get(pk, {}).get(metric, 0) == value
        for pk, values in expected.items()
        for metric, value in values.items()
        if metric == "members" or metric.startswith(("orgs.", "bench."))
    )


def duck_threads(duck: Any) -> int:
    return int(duck.execute("SELECT current_setting('threads')").fetchone()[0])


def export_csv(sql: str, path: Path) -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy, path.open("wb") as fh:
            for chunk in copy:
                fh.write(chunk)
        return
    import csv

    with connection.cursor() as cursor, path.open("w", newline="") as fh:
        out = csv.writer(fh)
        cursor.execute(sql)
        while batch := cursor.fetchmany(10_000):
            out.writerows(["" if v is None else v for v in row] for row in batch)


# --- the writer processes ------------------------------------------------------------------


def writer(
    design: str,
    members: list[tuple[int, ...]],
    day: Any,
    start_at: float,
    seconds: float | None,
    count: int | None,
    rate: float | None,
    writers: int,
    results: Any,
) -> None:
    """One writer process: check-ins of `design`, paced to rate/writers per second (or flat
    out), until `seconds` have passed or `count` are done; reports its latencies."""
    from django.db import connection, transaction

    from gonghui.stats import services

    def bare(m: tuple[int, ...]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_bare (member_id, unit_id, day) VALUES (%s, %s, %s)",
                [m[0], m[1], day],
            )

    def engine(m: tuple[int, ...]) -> None:
        """As the check-in service does: the fact row, the member's distinct marks (a
        check-in taken now: `live`, no read of earlier marks) and every figure change in
        one multi-row INSERT."""
        counts: Counter[Any] = Counter({(m[1], CHECKINS, day): 1})
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO bench_checkin (member_id, unit_id, day) VALUES (%s, %s, %s)",
                    [m[0], m[1], day],
                )
            services.mark_distinct(
                metric=REACHED, key=m[0], org_id=m[1], day=day, counts=counts, live=True
            )
            services.emit_counts(counts)

    def hot(m: tuple[int, ...]) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_hot (member_id, unit_id, day) VALUES (%s, %s, %s)",
                [m[0], m[1], day],
            )
            for org_id in m[2:5]:  # province, city, county: every writer shares two rows
                cursor.execute(
                    "UPDATE bench_hot_counter SET value = value + 1 "
                    "WHERE org_id = %s AND metric = %s",
                    [org_id, CHECKINS],
                )

    write = {"bare": bare, "engine": engine, "hot-row": hot}[design]
    latencies: list[float] = []
    error = None
    interval = writers / rate if rate else 0.0
    try:
        connection.ensure_connection()
        while time.monotonic() < start_at:
            time.sleep(0.005)
        began = time.monotonic()
        deadline = began + seconds if seconds else math.inf
        next_at = began
        i = 0
        while True:
            now = time.monotonic()
            if now >= deadline or (count and i >= count):
                break
            if interval:
                if next_at > now:
                    time.sleep(next_at - now)
                next_at += interval
            t0 = time.perf_counter()
            write(members[i % len(members)])
            latencies.append((time.perf_counter() - t0) * 1000)
            i += 1
        elapsed = time.monotonic() - began
    except Exception as exc:  # reported to the parent, which stops the benchmark
        error, elapsed = repr(exc), 0.0
    finally:
        connection.close()
    results.put(
        {"latencies_ms": latencies, "done": len(latencies), "elapsed_s": elapsed, "error": error}
    )


# --- goals and the report ----------------------------------------------------------------


def goals(data: dict[str, Any]) -> list[dict[str, Any]]:
    levels = data["reads"]["levels"]
    load = data["sustained"]["dashboard_under_load"]
    out = []
    worst = max(levels.values(), key=lambda r: r["engine"]["p95_ms"])
    worst_level = next(k for k, v in levels.items() if v is worst)
    out.append(
        {
            "goal": f"(a) p95 ≤ {GOAL_P95_MS:g} ms at every level, quiet",
            "measured": f"worst {worst['engine']['p95_ms']:.2f} ms ({worst_level})",
            "met": worst["engine"]["p95_ms"] <= GOAL_P95_MS,
        }
    )
    worst_load = max(load.items(), key=lambda kv: kv[1]["p95_ms"])
    out.append(
        {
            "goal": f"(a) p95 ≤ {GOAL_P95_MS:g} ms at every level, during the sustained run",
            "measured": f"worst {worst_load[1]['p95_ms']:.2f} ms ({worst_load[0]})",
            "met": worst_load[1]["p95_ms"] <= GOAL_P95_MS,
        }
    )
    root, shop = levels["province"]["engine"], levels["workshop"]["engine"]
    ratio = root["p95_ms"] / shop["p95_ms"]
    ratio_median = root["median_ms"] / shop["median_ms"]
    out.append(
        {
            "goal": f"root's (a) within {GOAL_ROOT_VS_WORKSHOP:g}× of a workshop's",
            "measured": f"{ratio:.2f}× at p95, {ratio_median:.2f}× at the median",
            "met": ratio <= GOAL_ROOT_VS_WORKSHOP and ratio_median <= GOAL_ROOT_VS_WORKSHOP,
        }
    )
    vs_cte = levels["province"]["cte"]["median_ms"] / root["median_ms"]
    out.append(
        {
            "goal": f"(a) ≥ {GOAL_VS_CTE:g}× faster than (b) at the root",
            "measured": f"{vs_cte:,.0f}× (medians)",
            "met": vs_cte >= GOAL_VS_CTE,
        }
    )
    sustained = data["sustained"]
    rate = sustained["writes"]["per_s"] or 0
    kept_up = sustained["catch_up_s"] <= 5
    out.append(
        {
            "goal": f"{GOAL_RATE:,} check-ins/s sustained, folding keeping up, dashboards in goal",
            "measured": (
                f"{rate:,.0f}/s achieved; {sustained['pending_when_writers_stopped']:,} pending "
                f"at the end, caught up in {sustained['catch_up_s']} s; worst dashboard p95 "
                f"{worst_load[1]['p95_ms']:.1f} ms"
            ),
            "met": rate >= 0.98 * GOAL_RATE and kept_up and worst_load[1]["p95_ms"] <= GOAL_P95_MS,
        }
    )
    return out


def ratio(value: float) -> str:
    return f"{value:,.0f}×" if value >= 10 else f"{value:.1f}×"


def report(data: dict[str, Any]) -> None:
    levels = data["reads"]["levels"]
    orgs = data["orgs"]

    def cell(s: dict[str, Any]) -> str:
        return f"{ms(s['median_ms'])} / {ms(s['p95_ms'])}"

    rows = []
    for level, r in levels.items():
        same = all(r[k].get("same") for k in ("cte", "ancestor", "duckdb"))
        rows.append(
            [
                f"{level} ({orgs[level]['children']} children)",
                cell(r["engine"]),
                cell(r["get"]),
                cell(r["cte"]),
                cell(r["ancestor"]),
                cell(r["duckdb"]),
                ratio(r["cte"]["median_ms"] / r["engine"]["median_ms"]),
                same,
            ]
        )
    load = data["reads"]["duckdb_load"]
    table(
        f"rollup ({data['database']}): dashboard figures of an org and its children, "
        "median / p95 ms, quiet database",
        [
            "org",
            "(a) engine",
            "GET page",
            "(b) CTE",
            "(c) ancestor",
            "(d) DuckDB",
            "b/a",
            "same",
        ],
        rows,
    )
    print(
        f"  DuckDB load (export to CSV + read_csv, {load['threads']} threads): "
        f"{load['seconds']} s for {load['rows']}"
    )
    writes = data["writes"]
    bare = writes["single"]["bare"]["latency"]["median_ms"]
    rows = []
    for kind in ("single", "concurrent"):
        for design, w in writes[kind].items():
            lat = w["latency"]
            rows.append(
                [
                    f"{design}, {w['writers']} writer{'s' if w['writers'] > 1 else ''}",
                    f"{w['checkins']:,}",
                    f"{w['per_s']:,.0f}",
                    ms(lat["median_ms"]),
                    ms(lat["p95_ms"]),
                    f"+{lat['median_ms'] - bare:.2f} ms" if kind == "single" else "",
                ]
            )
    table(
        "rollup: writing check-ins (one city); per-fact cost against a bare INSERT",
        ["design", "check-ins", "per s", "p50 ms", "p95 ms", "over bare (p50)"],
        rows,
    )
    backlog = data["fold_backlog"]
    print(
        f"  folding the backlog afterwards: {backlog['folded']:,} changes in "
        f"{backlog['seconds']} s ({backlog['per_s']:,}/s)"
    )
    s = data["sustained"]
    rows = [
        [
            level,
            cell(s["dashboard_under_load"][level]),
            cell(s["get_under_load"][level]),
            s["dashboard_under_load"][level]["n"],
        ]
        for level in levels
    ]
    w = s["writes"]
    view_rate = data["options"].get("dashboard_rate")
    viewed = f"{view_rate:g}/s" if view_rate else "back to back"
    table(
        f"rollup: sustained {data['options']['rate']:,} check-ins/s target, "
        f"{w['writers']} writers, gonghui worker folding, dashboards viewed {viewed}: "
        f"achieved {w['per_s']:,.0f}/s, "
        f"write p50/p95 {cell(w['latency'])} ms; pending median "
        f"{s['pending_samples']['median']}, max {s['pending_samples']['max']}; "
        f"{s.get('folded_only_reads', 0):,} engine reads showed the folded totals alone; "
        f"{s['pending_when_writers_stopped']:,} pending at the end, caught up in "
        f"{s['catch_up_s']} s",
        ["org", "(a) engine under load", "GET page under load", "reads"],
        rows,
    )
    e = data["exact"]
    print(
        f"  exact afterwards: {e['ok']} ({e['checkin_rows']:,} check-ins, "
        f"{e['distinct_members']:,} distinct members)"
    )
    table(
        "rollup: goals",
        ["goal", "measured", "met"],
        [[g["goal"], g["measured"], g["met"]] for g in data["goals"]],
        left=2,
    )


if __name__ == "__main__":
    child_main(sys.argv[1:])
