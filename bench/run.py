"""Benchmarks of Gonghui at Sichuan scale, run by hand (`make bench`), never as tests.

    python bench/run.py [demo|import|subtree|rollup|checkin|dispatch|contest|all ...]
                        [--rebuild] [--rows N] [--repeat N] [--sqlite] [rollup options]
                        [checkin options] [dispatch options] [contest options]

Everything runs against its own PostgreSQL database (gonghui_bench, created when missing)
with its own var directory (var/bench), never the development database. Each benchmark
prints a table and writes bench/results/<name>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cases import add_cases_arguments, bench_cases
from checkin_burst import add_arguments as add_checkin_arguments
from checkin_burst import bench_checkin
from common import (
    COUNTY_CODE,
    DB,
    REPO,
    RESULTS,
    ROOT_CODE,
    SCALE,
    VAR_DIR,
    admin_connect,
    close_django_connections,
    create_db,
    db_exists,
    drop_db,
    query,
    run_gonghui,
    save,
    setup_django,
    table,
    timed,
)
from contest import add_arguments as add_contest_arguments
from contest import bench_contest
from dispatch import add_arguments as add_dispatch_arguments
from dispatch import bench_dispatch
from rollup import add_arguments as add_rollup_arguments
from rollup import bench_rollup

IMPORT_DB = f"{DB}_import"


def bench_db_ready() -> bool:
    if not db_exists(DB):
        return False
    try:
        return bool(query(DB, "SELECT EXISTS (SELECT 1 FROM orgs_org)")[0][0])
    except Exception:
        return False


def org_counts(dbname: str) -> dict[str, Any]:
    kinds = dict(query(dbname, "SELECT kind, count(*) FROM orgs_org GROUP BY kind ORDER BY 2"))
    members = query(dbname, "SELECT count(*) FROM orgs_member")[0][0]
    size = query(dbname, "SELECT pg_database_size(current_database())")[0][0]
    return {
        "orgs_by_kind": kinds,
        "orgs": sum(kinds.values()),
        "members": members,
        "db_mb": size >> 20,
    }


# --- demo -----------------------------------------------------------------------------


def bench_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Wall time of `gonghui migrate` + `gonghui demo --scale sichuan` into an empty DB."""
    previous = RESULTS / "demo.json"
    if bench_db_ready() and not args.rebuild:
        print(f"demo: reusing database {DB} (--rebuild builds it again)")
        counts = org_counts(DB)
        data = json.loads(previous.read_text()) if previous.exists() else {}
        data.update(counts, reused=True)
        report_demo(data)
        return data
    close_django_connections()
    drop_db(DB)
    create_db(DB)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    print(f"demo: building {DB} ({SCALE} scale; several minutes at sichuan)")
    migrate = run_gonghui(["migrate", "--noinput", "-v", "0"], DB)
    demo = run_gonghui(["demo", "--scale", SCALE, "-v", "2"], DB)
    # A freshly bulk-loaded table has no statistics and no visibility map yet; production
    # databases are vacuumed, so the later benchmarks run on a vacuumed one.
    started = time.perf_counter()
    with admin_connect(DB) as conn:
        conn.execute("VACUUM ANALYZE")
    vacuum = time.perf_counter() - started
    data = {
        "reused": False,
        "scale": SCALE,
        "migrate_s": migrate["seconds"],
        "demo_s": demo["seconds"],
        "total_s": round(migrate["seconds"] + demo["seconds"], 2),
        "demo_max_rss_mb": demo["max_rss_mb"],
        "demo_cpu_s": demo["cpu_seconds"],
        "vacuum_analyze_s": round(vacuum, 2),
        **org_counts(DB),
    }
    report_demo(data)
    save("demo", data)
    return data


def report_demo(data: dict[str, Any]) -> None:
    rows = [
        ["gonghui migrate", f"{data.get('migrate_s', '?')} s"],
        [f"gonghui demo --scale {data.get('scale', SCALE)}", f"{data.get('demo_s', '?')} s"],
        ["  peak memory (max RSS)", f"{data.get('demo_max_rss_mb', '?')} MB"],
        ["VACUUM ANALYZE afterwards", f"{data.get('vacuum_analyze_s', '?')} s"],
        *[[f"orgs: {kind}", f"{n:,}"] for kind, n in data["orgs_by_kind"].items()],
        ["orgs", f"{data['orgs']:,}"],
        ["members", f"{data['members']:,}"],
        ["database size", f"{data['db_mb']:,} MB"],
    ]
    when = " (measured earlier, database reused)" if data.get("reused") else ""
    table(f"demo: build of the Sichuan demo{when}", ["what", "value"], rows)


# --- import ---------------------------------------------------------------------------

IMPORT_HEADERS = [
    "姓名*",
    "身份证号*",
    "单位编码*",
    "手机号",
    "民族",
    "学历",
    "岗位/工种",
    "是否农民工",
    "入会日期",
]
EDUCATION_WORDS = ("初中", "高中", "中专", "大专", "本科", "硕士", "")
ETHNICITIES = ("汉族",) * 16 + ("彝族", "藏族", "羌族", "回族")
JOB_WORDS = ("电工", "焊工", "钳工", "质检员", "驾驶员", "护士", "教师", "职员", "技术员", "营业员")


def import_csv(rows: int, seed: int = 7) -> Path:
    """A member sheet of `rows` valid, unique members in random units of the bench tree.

    ID numbers use the county of their unit, birth dates 1966-2005 and sequence codes
    000-899: the demo's own numbers all use 900-999, so none collide. Members join at 16
    at the earliest (an import rejects a joining date before the birth date)."""
    setup_django()
    from gonghui.orgs.demo import BIRTH_DAYS, BIRTH_START, GIVEN, SURNAMES
    from gonghui.orgs.identity import id_check_char

    units = [
        code
        for (code,) in query(
            DB,
            "SELECT code FROM orgs_org WHERE kind IN ('grassroots', 'branch', 'team') "
            "AND status = 'active' ORDER BY id",
        )
    ]
    path = VAR_DIR / f"members-v2-{rows}-{seed}-{len(units)}.csv"
    if path.exists():
        return path
    print(f"import: writing {rows:,} rows to {path.relative_to(REPO)} ({len(units):,} units)")
    import csv

    rng = random.Random(seed)
    serials: dict[str, int] = {}
    tmp = path.with_suffix(".tmp")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(IMPORT_HEADERS)
        for _ in range(rows):
            unit = rng.choice(units)
            county = unit[:6]
            serial = serials.get(county, 0)
            serials[county] = serial + 1
            birth = BIRTH_START + datetime.timedelta(days=(serial // 900 * 7919) % BIRTH_DAYS)
            first17 = f"{county}{birth:%Y%m%d}{serial % 900:03d}"
            name = rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN) for _ in range(rng.randint(1, 2))
            )
            joined = datetime.date(2000, 1, 1) + datetime.timedelta(days=rng.randrange(9400))
            joined = max(joined, birth + datetime.timedelta(days=16 * 366))  # not before birth
            out.writerow(
                [
                    name,
                    first17 + id_check_char(first17),
                    unit,
                    f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
                    rng.choice(ETHNICITIES),
                    rng.choice(EDUCATION_WORDS),
                    rng.choice(JOB_WORDS),
                    "是" if rng.random() < 0.2 else "否",
                    joined.isoformat(),
                ]
            )
    tmp.rename(path)
    return path


def pending_facts(dbname: str) -> int:
    return query(dbname, "SELECT count(*) FROM stats_factdelta")[0][0]


def bench_import(args: argparse.Namespace) -> dict[str, Any]:
    """Time and peak memory of `gonghui import_members` of a generated sheet into a copy of
    the bench database (CREATE DATABASE … TEMPLATE), dropped afterwards."""
    if not bench_db_ready():
        raise SystemExit(f"import: no demo in {DB}; run `python bench/run.py demo` first")
    path = import_csv(args.rows)
    close_django_connections()
    drop_db(IMPORT_DB)
    started = time.perf_counter()
    create_db(IMPORT_DB, template=DB)
    # The code may have gained migrations since the demo was built (new apps' tables).
    run_gonghui(["migrate", "--noinput", "-v", "0"], IMPORT_DB)
    copy_s = time.perf_counter() - started
    before = query(IMPORT_DB, "SELECT count(*) FROM orgs_member WHERE status = 'active'")[0][0]
    try:
        print(f"import: {args.rows:,} members into a copy of {DB} ({copy_s:.1f} s to copy)")
        run = run_gonghui(["import_members", str(path), "--org", ROOT_CODE], IMPORT_DB)
        pending_after_import = pending_facts(IMPORT_DB)
        if args.import_only:
            worker = {"seconds": None}
            check = {"seconds": None, "exit_code": None}
            pending_after_worker = pending_after_import
        else:
            # What the worker does, once, as `gonghui worker --once` (it folds at most
            # 200,000 pending changes per run); the check below folds whatever is left.
            print(f"import: {pending_after_import:,} pending changes; gonghui worker --once")
            worker = run_gonghui(["worker", "--once"], IMPORT_DB)
            pending_after_worker = pending_facts(IMPORT_DB)
            # --check folds the rest, recomputes and compares inside a transaction it
            # rolls back: it changes nothing, so what is still pending stays pending.
            print("import: gonghui rebuild_rollups --check (folds the rest, compares, rolls back)")
            check = run_gonghui(["rebuild_rollups", "--check"], IMPORT_DB, check=False)
        # The root's live figure, as the dashboard reads it: folded total + pending changes.
        after_members, root_folded, root_pending = query(
            IMPORT_DB,
            "SELECT (SELECT count(*) FROM orgs_member WHERE status = 'active'), "
            "(SELECT s.value FROM stats_subtreecount s JOIN orgs_org o ON o.id = s.org_id "
            " WHERE o.code = %s AND s.metric = 'members'), "
            "(SELECT coalesce(sum(f.delta), 0) FROM stats_factdelta f "
            " JOIN orgs_org o ON o.id = f.org_id JOIN orgs_org r ON r.code = %s "
            " WHERE f.metric = 'members' AND o.ancestor_0 = r.id)",
            [ROOT_CODE, ROOT_CODE],
        )[0]
        root_members = root_folded + int(root_pending)
    finally:
        drop_db(IMPORT_DB)
    imported = after_members - before
    data = {
        "rows": args.rows,
        "file": path.name,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "seconds": run["seconds"],
        "rows_per_s": round(imported / run["seconds"]),
        "max_rss_mb": run["max_rss_mb"],
        "cpu_s": run["cpu_seconds"],
        "imported": imported,
        "pending_after_import": pending_after_import,
        "worker_once_s": worker["seconds"],
        "pending_after_worker_once": pending_after_worker,
        "rebuild_check_s": check["seconds"],
        "rebuild_check_exit": check["exit_code"],
        "root_members_rollup": root_members,
        "root_members_folded": root_folded,
        "root_members_pending": int(root_pending),
        "active_member_rows": after_members,
        "figures_consistent": (check["exit_code"] == 0 or args.import_only)
        and root_members == after_members,
        "goal_seconds": 120,
        "goal_mb": 1024,
        "copy_db_s": round(copy_s, 1),
    }
    ok = data["seconds"] <= 120 and data["max_rss_mb"] <= 1024
    table(
        f"import: gonghui import_members, {args.rows:,} rows (goal ≤120 s, ≤1 GB)",
        ["what", "value"],
        [
            ["wall time", f"{data['seconds']} s"],
            ["rows/s", f"{data['rows_per_s']:,}"],
            ["peak memory (max RSS)", f"{data['max_rss_mb']} MB"],
            ["CPU time of the command", f"{data['cpu_s']} s"],
            ["rows imported", f"{imported:,}"],
            ["pending figure changes after the import", f"{pending_after_import:,}"],
            ["gonghui worker --once", f"{worker['seconds']} s"],
            ["  still pending afterwards", f"{pending_after_worker:,}"],
            ["gonghui rebuild_rollups --check", f"{check['seconds']} s, exit {check['exit_code']}"],
            [
                "root's members, live (folded + pending)",
                f"{root_members:,} ({root_folded:,} + {int(root_pending):,})",
            ],
            ["active member rows", f"{after_members:,}"],
            ["figures consistent", str(data["figures_consistent"])],
            ["goal met", str(ok)],
        ],
    )
    save("import", data)
    return data


# --- subtree --------------------------------------------------------------------------

CTE_COUNT = """
WITH RECURSIVE sub(id) AS (
    SELECT id FROM orgs_org WHERE id = %s
    UNION ALL
    SELECT o.id FROM orgs_org o JOIN sub ON o.parent_id = sub.id
)
SELECT count(*) FROM orgs_member m JOIN sub ON m.unit_id = sub.id WHERE m.status = 'active'
"""

CTE_CHILDREN = """
WITH RECURSIVE sub(id, top) AS (
    SELECT id, id FROM orgs_org WHERE parent_id = %s
    UNION ALL
    SELECT o.id, sub.top FROM orgs_org o JOIN sub ON o.parent_id = sub.id
)
SELECT sub.top, count(*) FROM orgs_member m JOIN sub ON m.unit_id = sub.id
WHERE m.status = 'active' GROUP BY sub.top
"""


def bench_subtree(args: argparse.Namespace) -> dict[str, Any]:
    """Subtree member counts the project's way (the roll-ups: SubtreeCount of the org plus
    its pending changes, `live_subtree_figures`) against a recursive CTE over parent_id
    counting member rows."""
    if not bench_db_ready():
        raise SystemExit(f"subtree: no demo in {DB}; run `python bench/run.py demo` first")
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from gonghui.orgs import selectors
    from gonghui.orgs.models import Org

    def cte(sql: str, pk: int) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql, [pk])
            return cursor.fetchall()

    # A superuser (unsaved: scoping only asks is_superuser) sees every child.
    admin = get_user_model()(username="bench", is_superuser=True, is_active=True)

    def children_counts(org: Org) -> dict[int, int]:
        counts = {c.pk: c.subtree_members for c in selectors.children_of(org, admin)}
        return {pk: n for pk, n in counts.items() if n}  # the CTE has no rows for zero

    root = Org.objects.get(code=ROOT_CODE)
    county = Org.objects.filter(code=COUNTY_CODE, kind="county").first()
    if county is None:
        counts = children_counts(root)
        city = Org.objects.get(pk=max(counts, key=counts.__getitem__))
        county = max(Org.objects.filter(parent=city), key=selectors.subtree_member_count)
    repeat = args.repeat
    # Ten warm-up runs of each, as a server's process has made them after its first few
    # requests: psycopg prepares a statement on its fifth run and PostgreSQL settles on a
    # plan after five more; a single warm-up timed those first runs too.
    warmup = 10
    cases = []
    for label, org in (("province root", root), (f"county {county.name}", county)):
        ours = timed(lambda org=org: selectors.subtree_member_count(org), repeat, warmup)
        base = timed(lambda org=org: cte(CTE_COUNT, org.pk)[0][0], repeat, warmup)
        cases.append((f"subtree_member_count: {label}", ours, base))
    ours = timed(lambda: children_counts(root), repeat, warmup)
    base = timed(lambda: dict(cte(CTE_CHILDREN, root.pk)), repeat, warmup)
    cases.append(("children_of (superuser): province root", ours, base))

    # The same queries as PostgreSQL executes them (EXPLAIN ANALYZE's execution time of
    # every statement each makes, summed; median of `repeat`): the time above also holds
    # the driver's round trip and Django's cursor, which a one-row read cannot go below.
    def executed(fn: Callable[[], Any]) -> float:
        statements: list[tuple[str, Any]] = []

        def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            statements.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            fn()
        times = []
        for _ in range(repeat):
            total = 0.0
            for sql, params in statements:
                # psycopg's own cursor, never prepared (EXPLAIN is not preparable).
                with connection.connection.cursor() as cursor:
                    explain = "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) "
                    cursor.execute(explain + sql, params, prepare=False)
                    plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                total += plan[0]["Execution Time"]
            times.append(total)
        return statistics.median(times)

    server = {
        "subtree_member_count: province root": (
            executed(lambda: selectors.subtree_member_count(root)),
            executed(lambda: cte(CTE_COUNT, root.pk)),
        ),
        f"subtree_member_count: county {county.name}": (
            executed(lambda: selectors.subtree_member_count(county)),
            executed(lambda: cte(CTE_COUNT, county.pk)),
        ),
    }

    rows, results = [], []
    for label, (o_med, o_min, o_res), (b_med, b_min, b_res) in cases:
        ratio = b_med / o_med if o_med else float("inf")
        same = o_res == b_res
        o_server, b_server = server.get(label, (None, None))
        server_ratio = b_server / o_server if o_server else None
        rows.append(
            [
                label,
                f"{o_med:.2f}",
                f"{b_med:.1f}",
                f"{ratio:.0f}×",
                "-" if o_server is None else f"{o_server:.3f} / {b_server:.1f}",
                "-" if server_ratio is None else f"{server_ratio:.0f}×",
                f"{o_res if isinstance(o_res, int) else len(o_res)}",
                same,
            ]
        )
        results.append(
            {
                "case": label,
                "ours_median_ms": round(o_med, 3),
                "ours_min_ms": round(o_min, 3),
                "cte_median_ms": round(b_med, 3),
                "cte_min_ms": round(b_min, 3),
                "ratio": round(ratio, 1),
                "server_ours_median_ms": None if o_server is None else round(o_server, 4),
                "server_cte_median_ms": None if b_server is None else round(b_server, 3),
                "server_ratio": None if server_ratio is None else round(server_ratio, 1),
                "result": o_res
                if isinstance(o_res, int)
                else {str(k): v for k, v in o_res.items()},
                "same_result": same,
            }
        )
    table(
        f"subtree: median of {repeat} runs after {warmup} to warm up (goal: ours ≥50× faster)",
        [
            "query",
            "ours ms",
            "CTE ms",
            "ratio",
            "executed: ours / CTE ms",
            "ratio",
            "members/rows",
            "same",
        ],
        rows,
    )
    data = {
        "repeat": repeat,
        "root": root.code,
        "county": county.code,
        "orgs": Org.objects.count(),
        "cases": results,
    }
    save("subtree", data)
    return data


BENCHMARKS = {
    "demo": bench_demo,
    "import": bench_import,
    "subtree": bench_subtree,
    "rollup": bench_rollup,
    "checkin": bench_checkin,
    "dispatch": bench_dispatch,
    "contest": bench_contest,
    "cases": bench_cases,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("benchmarks", nargs="*", choices=[*BENCHMARKS, "all"], default=["all"])
    parser.add_argument("--rebuild", action="store_true", help="build the demo database again")
    parser.add_argument("--rows", type=int, default=1_000_000, help="members to import")
    parser.add_argument(
        "--import-only",
        action="store_true",
        help="import: time the import alone (no worker run, no rebuild --check afterwards)",
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per subtree query")
    add_rollup_arguments(parser)
    add_checkin_arguments(parser)
    add_dispatch_arguments(parser)
    add_contest_arguments(parser)
    add_cases_arguments(parser)
    args = parser.parse_args(argv)
    chosen = list(BENCHMARKS) if "all" in args.benchmarks else args.benchmarks
    if "demo" not in chosen and args.rebuild:
        chosen.insert(0, "demo")
    for name in BENCHMARKS:
        if name in chosen:
            BENCHMARKS[name](args)


if __name__ == "__main__":
    main()
