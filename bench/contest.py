"""Province-wide knowledge contest: tens of thousands of members take a 20-question quiz of
the province root through the HTTP API at once, served the production way (gunicorn,
DEBUG off, PostgreSQL), while a cadre of the root reads the leaderboards.

`python bench/run.py contest` works in a database of its own:

1. a base (`gonghui_bench_contest_base`: migrate + `gonghui demo --scale small`, 8,680
   orgs, 5,364 member units, then `VACUUM ANALYZE`), built once and reused
   (`--contest-rebuild` builds it again); each run copies it
   (`CREATE DATABASE gonghui_bench_contest TEMPLATE …`) and migrates the copy;
2. setup (a child process, Django in-process): `--bank` questions (single, multiple,
   true/false, fill-in, over eight tags) in the root's bank and a contest quiz drawing 20
   of them (5 + 5 + 5 by tag, 5 from anything), published by the root and open now,
   through the services; `--attempts` members (+ 600 for the analysis) spread at random
   over every member unit of the tree, each with a user and an API token (in bulk, as
   `checkin` does), the join facts, `stats.rebuild(check=False)`; a cadre with an admin
   role at the root;
3. the server (`--contest-server`: granian:2x4, the production set-up, or gunicorn)
   with `gonghui.wsgi` on 127.0.0.1;
   `GET /healthz` from `--contest-concurrency` connections for `--trivial-seconds`
   (the framework's ceiling on this server);
4. the contest: `gonghui worker` folds the figures as in production; two reader processes
   (the root's cadre), one on the contest's server and one on a pool of its own
   (`--board-server`), read `GET /api/points/leaderboard?org_id=<root>&kind=members` and
   `kind=units` back to back on one connection each; and the load generator (asyncio, raw
   HTTP/1.1, a process of its own) runs every member through `--contest-concurrency`
   connections: `POST /api/quizzes/{id}/attempts` (a share sends it twice at the same
   moment: a double tap), answers all 20 (right with the member's skill, drawn 0.3–1.0,
   so some pass and some do not), `POST /api/quizzes/attempts/{id}/submit`; a share
   submits again, some at the same moment as the first, the others after the answer
   came. Every answer of a member must agree. CPU of the server, PostgreSQL, the worker,
   the readers and the load generator is taken over the load, and the pending figure
   changes every 2 s. When the server's autovacuum is off (it is on this machine),
   `VACUUM (ANALYZE)` of the written tables every `--vacuum-every` seconds stands in;
5. the analysis (a child: starts and submits through the production WSGI application
   and its fast lane, the boards too): statements per start,
   resume, submit (passed, failed, again), leaderboard (members, units) and healthz
   (CaptureQueriesContext), CPU per call (app and its PostgreSQL backend), time inside
   statements by kind, cProfile by library; then `stats.services.fold_pending()` and
   `rebuild(check=True)` must find nothing, and the root's figures must equal the facts;
6. verification from the database: one attempt per member, scored; one QuizResult per
   member equal to its attempt; at most one quiz PointsEntry per member, one per pass;
   balances equal the ledger; every score the phones were told equals the stored one.

This file is also the child processes: `setup`, `load`, `boards` and `analyse`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from checkin_burst import (
    LEAF_KINDS,
    PY_SPY,
    CpuWindow,
    Http,
    children_of,
    django_setup,
    free_port,
    latency_summary,
    parse_variants,
    proc_cpu,
    run_loader,
    start_server,
    stop_server,
    summarise_stacks,
    variant_slug,
    wsgi_post,
)
from common import (
    DB,
    GONGHUI,
    REPO,
    SERVER,
    VAR_DIR,
    admin_connect,
    close_django_connections,
    db_exists,
    drop_db,
    ms,
    percentile,
    query,
    run_gonghui,
    save,
    table,
)

CONTEST_DB = f"{DB}_contest"
BASE_DB = f"{DB}_contest_base"
GOAL_RATE = 500
GOAL_BOARD_P95_MS = 50.0
ANALYSIS_MEMBERS = 600
TAGS = (
    "工会法",
    "劳动合同法",
    "安全生产",
    "职业病防治",
    "女职工权益",
    "工会章程",
    "劳模精神",
    "技能竞赛",
)
# Where a sample's time goes, by the steps of the contest's calls (py-spy, inclusive).
STEPS = (
    ("BearerToken.authenticate", "token auth (SELECT token + user, UPDATE last_used_at)"),
    ("attempt_start", "the start view"),
    ("start_attempt", "  services.start_attempt"),
    ("member_of (gonghui/learning", "    member_of (SELECT member + unit)"),
    ("in_audience (gonghui/learning", "    in_audience (audience units)"),
    ("_lock_member", "    _lock_member (INSERT … ON CONFLICT, SELECT … FOR UPDATE)"),
    ("expire_attempts", "    expire_attempts"),
    ("_draw", "    _draw (the bank per rule, in_bulk, snapshot)"),
    ("start_out", "  start_out (the questions)"),
    ("attempt_submit", "the submit view"),
    ("submit_attempt", "  services.submit_attempt"),
    ("_score (gonghui/learning", "    _score"),
    ("award_points", "      award_points"),
    ("emit (gonghui/stats", "      stats.emit (INSERT factdelta)"),
    ("points_leaderboard", "the leaderboard view"),
    ("members_leaderboard", "  members_leaderboard"),
    ("units_leaderboard", "  units_leaderboard"),
    ("live_subtree_figures", "    live_subtree_figures"),
)


# --- options --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("contest")
    group.add_argument(
        "--attempts",
        type=int,
        default=50_000,
        help="members taking the contest, one attempt each (the issue's figure: 50,000)",
    )
    group.add_argument(
        "--contest-server",
        default="granian:2x4",
        help="server set-up: CLASS:WORKERS[xTHREADS], CLASS a gunicorn worker class or granian "
        "(as checkin's --variants); the default is the README's production set-up",
    )
    group.add_argument(
        "--contest-concurrency", type=int, default=32, help="members in flight at once"
    )
    group.add_argument("--bank", type=int, default=200, help="questions in the root's bank")
    group.add_argument(
        "--resubmit-share", type=float, default=0.3, help="share of members submitting again"
    )
    group.add_argument(
        "--double-start-share",
        type=float,
        default=0.05,
        help="share of members sending the start twice at the same moment",
    )
    group.add_argument(
        "--contest-scale", default="small", help="demo scale of the base database (small, tiny)"
    )
    group.add_argument(
        "--contest-rebuild", action="store_true", help="build the contest's base database again"
    )
    group.add_argument(
        "--board-pause",
        type=float,
        default=0.0,
        help="seconds the leaderboard reader waits between two reads (0: back to back)",
    )
    group.add_argument(
        "--board-server",
        default="sync:1",
        help="a second gunicorn pool for a second leaderboard reader (none: only the shared "
        "server's reader)",
    )
    group.add_argument(
        "--vacuum-every",
        type=float,
        default=30.0,
        help="when the server's autovacuum is off: VACUUM (ANALYZE) the tables the contest "
        "writes every so many seconds during the load, standing in for it (0: never)",
    )
    group.add_argument(
        "--after-seconds",
        type=float,
        default=6.0,
        help="leaderboard reads after the load ends (the worker still folding)",
    )


# --- parent ---------------------------------------------------------------------------


def base_ready() -> bool:
    if not db_exists(BASE_DB):
        return False
    try:
        return bool(query(BASE_DB, "SELECT EXISTS (SELECT 1 FROM orgs_org)")[0][0])
    except Exception:
        return False


def build_base(scale: str) -> dict[str, Any]:
    drop_db(BASE_DB)
    with admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{BASE_DB}"')
    print(f"contest: building the base {BASE_DB}: migrate, demo --scale {scale}", flush=True)
    migrate = run_gonghui(["migrate", "--noinput", "-v", "0"], BASE_DB)
    demo = run_gonghui(["demo", "--scale", scale, "-v", "1"], BASE_DB)
    with admin_connect(BASE_DB) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"built": True, "migrate_s": migrate["seconds"], "demo_s": demo["seconds"]}


def copy_base() -> float:
    started = time.perf_counter()
    drop_db(CONTEST_DB)
    with admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{CONTEST_DB}" TEMPLATE "{BASE_DB}" STRATEGY FILE_COPY')
    return round(time.perf_counter() - started, 1)


def child_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "GONGHUI_VAR_DIR": str(VAR_DIR),
        "GONGHUI_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }


def child(argv: list[str], url: str, out: Path) -> None:
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--out", str(out)]
    cmd += ["--database-url", url]
    code = subprocess.run(cmd, env=child_env(url), cwd=REPO, check=False).returncode
    if code != 0:
        raise SystemExit(f"contest: {argv[0]} failed ({code})")


def bench_contest(args: argparse.Namespace) -> dict[str, Any]:
    variant = parse_variants(args.contest_server)[0]
    url = f"{SERVER}/{CONTEST_DB}"
    close_django_connections()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns without it
    started = time.perf_counter()
    if args.contest_rebuild or not base_ready():
        base = build_base(args.contest_scale)
    else:
        print(f"contest: reusing the base {BASE_DB} (--contest-rebuild builds it again)")
        base = {"built": False}
    base["copy_s"] = copy_base()
    # The code may have gained migrations since the base was built.
    run_gonghui(["migrate", "--noinput", "-v", "0"], CONTEST_DB)
    print(
        f"contest: {CONTEST_DB} copied in {base['copy_s']} s; setup: {args.bank} questions, "
        f"a quiz, {args.attempts:,} + {ANALYSIS_MEMBERS} members with tokens",
        flush=True,
    )
    setup_file = Path(tempfile.mkstemp(prefix="gonghui-contest-", suffix=".json")[1])
    t0 = time.perf_counter()
    child(["setup", "--members", str(args.attempts), "--bank", str(args.bank)], url, setup_file)
    setup = json.loads(setup_file.read_text())
    setup_s = round(time.perf_counter() - t0, 1)
    print(
        f"contest: set up in {setup_s} s ({setup['units']:,} units, quiz {setup['quiz_id']}, "
        f"{setup['bank_size']} questions in the root's bank)",
        flush=True,
    )
    try:
        run = run_contest(args, variant, setup, setup_file, url)
        analysis_file = Path(tempfile.mkstemp(prefix="gonghui-contest-", suffix=".json")[1])
        print("contest: queries per call and where the time goes (in one process)", flush=True)
        child(["analyse", "--setup", str(setup_file)], url, analysis_file)
        analysis = json.loads(analysis_file.read_text())
        analysis_file.unlink(missing_ok=True)
    finally:
        setup_file.unlink(missing_ok=True)
    verify = verify_contest(setup, run["load"])
    run["load"].pop("results", None)
    data = {
        "options": {
            "attempts": args.attempts,
            "server": args.contest_server,
            "concurrency": args.contest_concurrency,
            "bank": args.bank,
            "resubmit_share": args.resubmit_share,
            "double_start_share": args.double_start_share,
            "trivial_seconds": args.trivial_seconds,
            "board_pause": args.board_pause,
            "board_server": args.board_server,
            "vacuum_every": args.vacuum_every,
            "scale": args.contest_scale,
        },
        "database": CONTEST_DB,
        "base": base,
        "setup_s": setup_s,
        "setup": {k: setup[k] for k in ("root_id", "quiz_id", "units", "bank_size", "orgs")},
        "total_s": round(time.perf_counter() - started, 1),
        **run,
        "verify": verify,
        "analysis": analysis,
    }
    data["goals"] = goals(data)
    report(data)
    save("contest", data)
    return data


# The tables the contest writes (updates and deletes leave dead rows; inserts outdate the
# planner's statistics).
WRITTEN_TABLES = (
    "learning_attempt",
    "learning_quizresult",
    "learning_pointsbalance",
    "learning_pointsentry",
    "accounts_apitoken",
    "stats_factdelta",
    "stats_orgdaycount",
    "stats_subtreecount",
    "stats_subtreedaycount",
)


def vacuum_written() -> float:
    """`VACUUM (ANALYZE)` of the tables the contest writes; seconds it took."""
    started = time.perf_counter()
    with admin_connect(CONTEST_DB) as conn:
        conn.execute(f"VACUUM (ANALYZE) {', '.join(WRITTEN_TABLES)}")
    return time.perf_counter() - started


def housekeeping(
    stop: threading.Event,
    pending: list[tuple[float, int]],
    vacuums: list[float],
    vacuum_every: float,
) -> None:
    """Every 2 s the pending figure changes; every `vacuum_every` s (0: never) what
    autovacuum would do, which this machine's PostgreSQL has switched off."""
    last_vacuum = time.monotonic()
    while not stop.wait(2.0):
        with contextlib.suppress(Exception):
            n = query(CONTEST_DB, "SELECT count(*) FROM stats_factdelta")[0][0]
            pending.append((time.time(), n))
        if vacuum_every and time.monotonic() - last_vacuum >= vacuum_every:
            with contextlib.suppress(Exception):
                vacuums.append(round(vacuum_written(), 2))
            last_vacuum = time.monotonic()


def autovacuum_on() -> bool:
    return query("postgres", "SHOW autovacuum")[0][0] == "on"


def tree_cpu(proc: subprocess.Popen | None) -> float:
    """CPU seconds of a process and its children (a gunicorn master and its workers)."""
    if proc is None:
        return 0.0
    return sum(proc_cpu(pid) for pid in [proc.pid, *children_of(proc.pid)])


def start_reader(
    me: Path, port: int, setup: dict[str, Any], pause: float, stop_file: Path
) -> tuple[subprocess.Popen, Path]:
    out = Path(tempfile.mkstemp(prefix="gonghui-boards-", suffix=".json")[1])
    proc = subprocess.Popen(
        [
            sys.executable,
            str(me),
            "boards",
            "--port",
            str(port),
            "--root",
            str(setup["root_id"]),
            f"--token={setup['cadre_token']}",  # one argument: a token may begin with "-"
            "--pause",
            str(pause),
            "--stop-file",
            str(stop_file),
            "--out",
            str(out),
        ],
        cwd=REPO,
    )
    return proc, out


def run_contest(
    args: argparse.Namespace,
    variant: dict[str, Any],
    setup: dict[str, Any],
    setup_file: Path,
    url: str,
) -> dict[str, Any]:
    port = free_port()
    slug = variant_slug(variant)
    log = VAR_DIR / f"gunicorn-contest-{slug}.log"
    log.unlink(missing_ok=True)
    print(
        f"contest: {'granian' if variant['worker_class'] == 'granian' else 'gunicorn'} "
        f"{variant['app']}, {variant['worker_class']}, "
        f"{variant['workers']} workers × {variant['threads']} threads on 127.0.0.1:{port}",
        flush=True,
    )
    server = start_server(variant, url, port, log)
    board_server = None
    board_variant = None
    me = Path(__file__).resolve()
    conc = ["--port", str(port), "--concurrency", str(args.contest_concurrency)]
    # autovacuum is off on this machine's server (a CI setting): without it the planner
    # keeps the statistics of the copied base (a handful of attempts) and reads every
    # attempt of the quiz on each start, and dead rows pile up. Unless the server
    # vacuums by itself, the benchmark stands in for it.
    vacuum_every = 0.0 if autovacuum_on() else args.vacuum_every
    try:
        if args.board_server not in ("", "none"):
            # The same application in a pool of its own, for the second reader: what the
            # leaderboard costs under the load without queueing behind the contestants.
            board_variant = parse_variants(args.board_server)[0]
            board_port = free_port()
            board_log = VAR_DIR / "gunicorn-contest-boards.log"
            board_log.unlink(missing_ok=True)
            board_server = start_server(board_variant, url, board_port, board_log)
        # Every worker (thread) opens its database connection before anything is timed.
        run_loader([*conc, "--mode", "trivial", "--seconds", "1"], server, CONTEST_DB)
        trivial = run_loader(
            [*conc, "--mode", "trivial", "--seconds", str(args.trivial_seconds)],
            server,
            CONTEST_DB,
        )
        print(
            f"  trivial GET /healthz: {trivial['per_s']:,.0f}/s, p50 "
            f"{ms(trivial['latency']['p50_ms'])} ms, p99 {ms(trivial['latency']['p99_ms'])} ms",
            flush=True,
        )
        # The background worker, as in production (folds the figures every 2 s).
        worker_log = (VAR_DIR / "contest-worker.log").open("w")
        worker = subprocess.Popen(
            [*GONGHUI, "worker"],
            env=child_env(url),
            cwd=REPO,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        stop_file = Path(tempfile.mkstemp(prefix="gonghui-boards-stop-")[1])
        stop_file.unlink()
        readers = {"shared": start_reader(me, port, setup, args.board_pause, stop_file)}
        if board_server is not None:
            readers["separate"] = start_reader(me, board_port, setup, args.board_pause, stop_file)
        time.sleep(5.0)  # the readers' "before" samples: the leaderboards while quiet
        load_out = Path(tempfile.mkstemp(prefix="gonghui-contest-load-", suffix=".json")[1])
        cmd = [
            sys.executable,
            str(me),
            "load",
            *conc,
            "--setup",
            str(setup_file),
            "--resubmit-share",
            str(args.resubmit_share),
            "--double-start-share",
            str(args.double_start_share),
            "--out",
            str(load_out),
        ]
        pending: list[tuple[float, int]] = []
        vacuums: list[float] = []
        stop_pending = threading.Event()
        sampler = threading.Thread(
            target=housekeeping, args=(stop_pending, pending, vacuums, vacuum_every)
        )
        spy = None

        def side_cpu() -> dict[str, float]:
            return {
                "worker": proc_cpu(worker.pid),
                "readers": sum(proc_cpu(r.pid) for r, _out in readers.values()),
                "board_server": tree_cpu(board_server),
            }

        with CpuWindow(server, CONTEST_DB) as window:
            side0 = side_cpu()
            proc = subprocess.Popen(cmd, cwd=REPO)
            sampler.start()
            if args.py_spy and PY_SPY.exists():
                spy = start_spy(server, slug)
            _pid, status, usage = os.wait4(proc.pid, 0)
            side1 = side_cpu()
        stop_pending.set()
        sampler.join()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("contest: the load generator failed")
        load = json.loads(load_out.read_text())
        load_out.unlink(missing_ok=True)
        load["autovacuum_standin"] = {"every_s": vacuum_every, "runs_s": vacuums}
        time.sleep(args.after_seconds)  # the readers' "after" samples
        stop_file.touch()
        reads = {}
        for label, (reader, out) in readers.items():
            reader.wait(timeout=120)
            reads[label] = json.loads(out.read_text())
            out.unlink(missing_ok=True)
        stop_file.unlink(missing_ok=True)
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        worker_log.close()
    finally:
        stop_server(server)
        if board_server is not None:
            stop_server(board_server)
    if vacuum_every:
        vacuum_written()  # as autovacuum would soon after the load, before the analysis
    if spy is not None:
        spy["proc"].wait(timeout=180)
    cpu = window.result()
    cpu["loader_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    cpu["worker_cpu_s"] = round(side1["worker"] - side0["worker"], 2)
    cpu["reader_cpu_s"] = round(side1["readers"] - side0["readers"], 2)
    cpu["board_server_cpu_s"] = round(side1["board_server"] - side0["board_server"], 2)
    busy = (cpu["machine_busy_share"] or 0) * cpu["cores"] * cpu["wall_s"]
    sides = ("server_cpu_s", "postgres_all_cpu_s", "loader_cpu_s", "worker_cpu_s")
    ours = sum(cpu[k] for k in (*sides, "reader_cpu_s", "board_server_cpu_s"))
    cpu["others_cpu_s"] = round(max(0.0, busy - ours), 2)
    cpu["load_average"] = [round(x, 2) for x in os.getloadavg()]
    load["cpu"] = cpu
    # CPU per submitted attempt under the load (its retries and the readers' share
    # included): the server's and its PostgreSQL backends'.
    if load["submitted"]:
        n = load["submitted"]
        load["cpu_per_attempt_ms"] = {
            "gunicorn": round(cpu["server_cpu_s"] / n * 1000, 2),
            "postgres": round(cpu["postgres_ours_cpu_s"] / n * 1000, 2),
        }
    boards_summary = {
        label: summarise_boards(r, load["started_at"], load["ended_at"])
        for label, r in reads.items()
    }
    pend = [n for t, n in pending]
    load["pending_changes"] = {
        "samples": len(pend),
        "median": statistics.median(pend) if pend else None,
        "max": max(pend) if pend else None,
    }
    print(
        f"  contest: {load['submitted']:,} attempts submitted in {load['seconds']} s = "
        f"{load['submitted_per_s']:,.1f}/s; start p50 {ms(load['latency']['start']['p50_ms'])} "
        f"ms p99 {ms(load['latency']['start']['p99_ms'])} ms; submit p50 "
        f"{ms(load['latency']['submit']['p50_ms'])} ms p99 "
        f"{ms(load['latency']['submit']['p99_ms'])} ms; errors {load['errors']}",
        flush=True,
    )
    errors = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    return {
        "variant": variant,
        "board_variant": board_variant,
        "trivial": trivial,
        "load": load,
        "boards": boards_summary,
        "ratio": round(load["requests_per_s"] / trivial["per_s"], 3) if trivial["per_s"] else None,
        "server_errors_log_tail": errors,
        "py_spy": summarise_stacks(spy["out"], STEPS) if spy is not None else None,
    }


def start_spy(server: subprocess.Popen, slug: str, seconds: int = 30) -> dict[str, Any]:
    """Sample every worker of the server for `seconds` of the load, as raw stacks."""
    out = VAR_DIR / f"py-spy-contest-{slug}.txt"
    proc = subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(server.pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "100",
            "--duration",
            str(seconds),
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return {"proc": proc, "out": out}


def summarise_boards(reads: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """The reader's samples split into before, during and after the load, per kind."""
    phases: dict[str, dict[str, list[float]]] = {
        p: defaultdict(list) for p in ("before", "during", "after")
    }
    statuses: Counter[str] = Counter()
    last: dict[str, Any] = {}
    for kind, at, took, status, rows, top in reads["samples"]:
        phase = "before" if at < start else "during" if at <= end else "after"
        statuses[f"{kind} {status}"] += 1
        if status == 200:
            phases[phase][kind].append(took)
            last[kind] = {"rows": rows, "top": top}
    out: dict[str, Any] = {"statuses": dict(statuses), "errors": reads["errors"], "last": last}
    for phase, kinds in phases.items():
        out[phase] = {}
        for kind in ("members", "units"):
            values = kinds.get(kind, [])
            summary = latency_summary(values)
            summary["p95_ms"] = round(percentile(values, 95), 2) if values else None
            out[phase][kind] = summary
    return out


def verify_contest(setup: dict[str, Any], load: dict[str, Any]) -> dict[str, Any]:
    """From the database: one scored attempt per member, one result, at most one award."""
    quiz = setup["quiz_id"]
    source = f"quiz:{quiz}"
    load_members = {m for m, _t in setup["members"]}
    analysis_members = {m for m, _t in setup["analysis"]}
    attempts = query(
        CONTEST_DB,
        "SELECT member_id, id, status, score, correct, passed FROM learning_attempt "
        "WHERE quiz_id = %s",
        [quiz],
    )
    per_member = Counter(a[0] for a in attempts)
    by_member = {a[0]: a for a in attempts}
    results = query(
        CONTEST_DB,
        "SELECT count(*), count(*) FILTER (WHERE passed), count(DISTINCT member_id) "
        "FROM learning_quizresult WHERE quiz_id = %s",
        [quiz],
    )[0]
    result_differs = query(
        CONTEST_DB,
        "SELECT count(*) FROM learning_quizresult r JOIN learning_attempt a "
        "ON a.id = r.attempt_id WHERE r.quiz_id = %s AND (r.score <> a.score OR "
        "r.passed <> a.passed OR r.member_id <> a.member_id OR "
        "r.seconds_taken <> a.seconds_taken)",
        [quiz],
    )[0][0]
    entries = query(
        CONTEST_DB,
        "SELECT count(*), count(DISTINCT member_id), coalesce(sum(points), 0) "
        "FROM learning_pointsentry WHERE source = %s",
        [source],
    )[0]
    balance_differs = query(
        CONTEST_DB,
        "SELECT count(*) FROM learning_pointsbalance b LEFT JOIN (SELECT member_id, "
        "sum(points) AS s FROM learning_pointsentry GROUP BY member_id) e "
        "ON e.member_id = b.member_id WHERE b.points <> coalesce(e.s, 0)",
    )[0][0]
    # What every phone was told against what is stored.
    told_differs = 0
    told = load["results"]
    for member, attempt_id, score, correct, passed, status in told:
        row = by_member.get(member)
        if row is None or (row[1], row[2], row[3], row[4], row[5]) != (
            attempt_id,
            status,
            score,
            correct,
            passed,
        ):
            told_differs += 1
    members = load_members | analysis_members
    scored = sum(1 for a in attempts if a[2] != "in_progress")
    data = {
        "members": len(members),
        "members_told_a_score": len(told),
        "attempt_rows": len(attempts),
        "members_with_an_attempt": len(per_member),
        "members_with_two_attempts": sum(1 for n in per_member.values() if n > 1),
        "attempts_scored": scored,
        "attempts_in_progress": len(attempts) - scored,
        "attempts_outside_the_bench": len(set(per_member) - members),
        "quiz_results": results[0],
        "quiz_results_members": results[2],
        "passed": results[1],
        "results_unlike_their_attempt": result_differs,
        "quiz_points_entries": entries[0],
        "quiz_points_members": entries[1],
        "quiz_points": entries[2],
        "balances_unlike_the_ledger": balance_differs,
        "told_unlike_stored": told_differs,
    }
    data["ok"] = (
        data["attempt_rows"] == data["members"]
        and data["members_with_two_attempts"] == 0
        and data["attempts_in_progress"] == 0
        and data["quiz_results"] == data["members"] == data["quiz_results_members"]
        and data["results_unlike_their_attempt"] == 0
        and data["quiz_points_entries"] == data["quiz_points_members"] == data["passed"]
        and data["balances_unlike_the_ledger"] == 0
        and data["told_unlike_stored"] == 0
        and data["members_told_a_score"] == len(load_members)
    )
    return data


# --- goals and report -----------------------------------------------------------------


def goals(data: dict[str, Any]) -> list[dict[str, Any]]:
    load, verify = data["load"], data["verify"]
    exact = data["analysis"]["exact"]
    during = data["boards"]["shared"]["during"]
    worst = max((during[k]["p95_ms"] or 0) for k in ("members", "units"))
    separate = data["boards"].get("separate")
    also = ""
    if separate:
        d = separate["during"]
        also = (
            f"; a pool of its own: members {ms(d['members']['p95_ms'])} ms, units "
            f"{ms(d['units']['p95_ms'])} ms"
        )
    return [
        {
            "goal": f"≥ {GOAL_RATE} submitted attempts/s (20 questions each)",
            "measured": f"{load['submitted_per_s']:,.1f}/s ({load['submitted']:,} in "
            f"{load['seconds']} s)",
            "met": load["submitted_per_s"] >= GOAL_RATE,
        },
        {
            "goal": f"leaderboard p95 ≤ {GOAL_BOARD_P95_MS:g} ms under that load",
            "measured": f"same server: members {ms(during['members']['p95_ms'])} ms, units "
            f"{ms(during['units']['p95_ms'])} ms{also} (at {load['submitted_per_s']:,.0f}/s)",
            "met": bool(during["members"]["n"]) and worst <= GOAL_BOARD_P95_MS,
        },
        {
            "goal": "one scored attempt and one result per member, none scored twice",
            "measured": f"{verify['attempt_rows']:,} attempts, {verify['quiz_results']:,} "
            f"results for {verify['members']:,} members; {verify['quiz_points_entries']:,} "
            f"awards = {verify['passed']:,} passes; told ≠ stored "
            f"{verify['told_unlike_stored']}",
            "met": verify["ok"],
        },
        {
            "goal": "every answer of a member the same (retries, double taps), no errors",
            "measured": f"disagreeing {load['disagreeing_members']} (double starts "
            f"{load['double_start_mismatch']}), errors {load['errors']}",
            "met": load["disagreeing_members"] == 0
            and load["double_start_mismatch"] == 0
            and load["errors"] == 0,
        },
        {
            "goal": "figures exact after the fold (rebuild --check)",
            "measured": f"{exact['differences']} differences; root's attempts "
            f"{exact['root_attempts']:,} = {exact['attempt_rows']:,}, passed "
            f"{exact['root_passed']:,} = {exact['passed_rows']:,}, points "
            f"{exact['root_points']:,} = {exact['points_sum']:,}",
            "met": exact["ok"],
        },
    ]


def cpu_cells(c: dict[str, Any], side: bool) -> list[str]:
    wall = c["wall_s"] or 1
    cells = [
        f"{c['server_cpu_s'] / wall:.0%}",
        f"{c['postgres_ours_cpu_s'] / wall:.0%}",
        f"{c['loader_cpu_s'] / wall:.0%}",
    ]
    if side:
        extra = c["worker_cpu_s"] + c["reader_cpu_s"] + c["board_server_cpu_s"]
        cells.append(f"{extra / wall:.0%}")
    else:
        cells.append("-")
    # Other jobs: their processes and their PostgreSQL backends (other databases).
    others = c["others_cpu_s"] + c["postgres_all_cpu_s"] - c["postgres_ours_cpu_s"]
    return [*cells, f"{others / wall:.0%}", f"{c['machine_busy_share']:.0%}"]


def report(data: dict[str, Any]) -> None:
    v, t, load = data["variant"], data["trivial"], data["load"]
    lat = load["latency"]
    name = f"{v['worker_class']} {v['workers']}×{v['threads']}"
    table(
        f"contest: {data['options']['attempts']:,} members, "
        f"{data['options']['concurrency']} in flight, server {name} "
        "(CPU: share of one core; machine: of all; load average "
        f"{load['cpu']['load_average']})",
        ["phase", "requests", "per s", "p50 ms", "p99 ms", "errors", "gunicorn", "postgres",
         "loader", "worker+readers", "others", "machine"],
        [
            ["GET /healthz", f"{t['requests']:,}", f"{t['per_s']:,.0f}",
             ms(t["latency"]["p50_ms"]), ms(t["latency"]["p99_ms"]), t["errors"],
             *cpu_cells(t["cpu"], False)],
            ["contest: start + submit (+ retries)", f"{load['requests']:,}",
             f"{load['requests_per_s']:,.0f}", ms(lat["all"]["p50_ms"]),
             ms(lat["all"]["p99_ms"]), load["errors"], *cpu_cells(load["cpu"], True)],
        ],
    )  # fmt: skip
    rows = [
        [label, f"{x['n']:,}", ms(x["p50_ms"]), ms(x.get("p95_ms")), ms(x["p99_ms"]),
         ms(x["max_ms"])]
        for label, x in (
            ("POST …/attempts (start)", lat["start"]),
            ("POST …/submit (first)", lat["submit"]),
            ("POST …/submit (again)", lat["resubmit"]),
            ("start → scored, one member", lat["pair"]),
            ("GET /healthz (alone)", t["latency"]),
        )
    ]  # fmt: skip
    for pool, b in data["boards"].items():
        where = "same server" if pool == "shared" else "pool of its own"
        for kind in ("members", "units"):
            for phase in ("before", "during", "after"):
                x = b[phase][kind]
                rows.append(
                    [f"GET leaderboard {kind}, {where}, {phase}", f"{x['n']:,}",
                     ms(x["p50_ms"]), ms(x["p95_ms"]), ms(x["p99_ms"]), ms(x["max_ms"])]
                )  # fmt: skip
    table(
        f"contest: {load['submitted']:,} attempts submitted in {load['seconds']} s = "
        f"{load['submitted_per_s']:,.1f}/s (per second: median {load['per_second_median']}, "
        f"max {load['per_second_max']}); pending figure changes median "
        f"{load['pending_changes']['median']}, max {load['pending_changes']['max']}",
        ["call", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        rows,
    )
    standin = load.get("autovacuum_standin") or {}
    if standin.get("every_s"):
        runs = standin["runs_s"]
        print(
            f"  autovacuum is off on this server: VACUUM (ANALYZE) of the written tables every "
            f"{standin['every_s']:g} s stood in for it ({len(runs)} runs, "
            f"{statistics.median(runs) if runs else 0} s median, {max(runs, default=0)} s max)"
        )
    ver = data["verify"]
    table(
        "contest: verified in the database",
        ["check", "value"],
        [[k.replace("_", " "), f"{val:,}" if isinstance(val, int) and not isinstance(val, bool)
          else val] for k, val in ver.items()]
        + [["double starts (same attempt both times)", f"{load['double_starts']:,}, "
            f"disagreeing {load['double_start_mismatch']}"],
           ["submits again (at once / after the answer)", f"{load['resubmits_at_once']:,} / "
            f"{load['resubmits_after']:,}"],
           ["statuses", load["statuses"]]],
    )  # fmt: skip
    a = data["analysis"]
    cores = os.cpu_count() or 1
    rows = []
    for key, label in (
        ("start", "start (new attempt)"),
        ("submit", "submit (first)"),
        ("board_members", "leaderboard members"),
        ("board_units", "leaderboard units"),
        ("healthz", "GET /healthz"),
    ):
        m = a["cost"][key]
        cpu = m["app_cpu_ms"] + m["postgres_cpu_ms"]
        rows.append(
            [
                label,
                m["statements_per_call"],
                f"{m['wall_ms']}",
                f"{m['app_cpu_ms']}",
                f"{m['postgres_cpu_ms']}",
                f"{m['db_ms']} ({m['db_share']:.0%})",
                f"{cores * 1000 / cpu:,.0f}" if cpu else "-",
            ]
        )
    q = a["queries"]
    table(
        f"contest: one call in one process (the WSGI application, {a['cost']['start']['calls']} "
        "calls each): statements, wall, CPU, time inside statements",
        ["call", "statements", "wall ms", "app CPU ms", "PG CPU ms", "in statements ms",
         f"max/s on {cores} cores"],
        rows,
    )  # fmt: skip
    under = load.get("cpu_per_attempt_ms")
    if under:
        print(
            f"  under the load: gunicorn {under['gunicorn']} ms + PostgreSQL "
            f"{under['postgres']} ms CPU per submitted attempt; contest requests/s ÷ "
            f"/healthz requests/s: {data['ratio']:.1%}"
        )
    cost = a["cost"]
    pair = sum(cost[k]["app_cpu_ms"] + cost[k]["postgres_cpu_ms"] for k in ("start", "submit"))
    print(
        f"  CaptureQueriesContext: start {q['start']} (resume {q['resume']}), submit "
        f"{q['submit']} (passed, with points) / {q['submit_failed']} (failed) / "
        f"{q['resubmit']} (again); leaderboard {q['board_members']} (members) / "
        f"{q['board_units']} (units); healthz {q['healthz']}"
    )
    print(
        f"  start + submit: CPU {pair:.1f} ms = at most {cores * 1000 / pair:,.0f} attempts/s "
        f"on {cores} cores (the goal needs ≤ {cores * 1000 / GOAL_RATE:.1f} ms)"
    )
    e = a["exact"]
    print(
        f"  fold: {e['folded']:,} pending changes in {e['fold_s']} s; rebuild --check: "
        f"{e['differences']} differences ({e['rebuild_s']} s)"
    )
    table(
        "contest: goals",
        ["goal", "measured", "met"],
        [[g["goal"], g["measured"], g["met"]] for g in data["goals"]],
        left=2,
    )


# --- child: setup (Django in-process) -------------------------------------------------

STEMS = (
    "根据{tag}的规定，下列说法正确的是",
    "{tag}中关于职工权利的表述，符合规定的是",
    "在{tag}的学习中，以下哪一项是基本要求",
    "关于{tag}，下列做法恰当的是",
    "按照{tag}，用人单位应当做到的是",
)
WORDS = (
    "依法",
    "民主",
    "协商",
    "签订",
    "监督",
    "保障",
    "培训",
    "考核",
    "公开",
    "报告",
    "审议",
    "维护",
    "评选",
    "备案",
    "检查",
    "落实",
)


def bank_questions(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """`n` questions over the tags: 40% single, 20% multiple, 25% true/false, 15% fill."""
    out = []
    for i in range(n):
        tag = TAGS[i % len(TAGS)]
        roll = rng.random()
        kind = (
            "single"
            if roll < 0.40
            else "multiple"
            if roll < 0.60
            else "truefalse"
            if roll < 0.85
            else "fill"
        )
        stem = STEMS[i % len(STEMS)].format(tag=f"《{tag}》")
        text = f"{stem}（竞赛第{i + 1}题）"
        options: list[str] = []
        answer: list[Any]
        if kind in ("single", "multiple"):
            count = rng.choice((4, 4, 5))
            options = [
                f"{chr(65 + k)}项：{rng.choice(WORDS)}{rng.choice(WORDS)}{i}-{k}"
                for k in range(count)
            ]
            if kind == "single":
                answer = [rng.randrange(count)]
            else:
                answer = sorted(rng.sample(range(count), rng.randint(2, count - 1)))
            text += "（单选）" if kind == "single" else "（多选）"
        elif kind == "truefalse":
            answer = [rng.randrange(2)]
            text += "（判断）"
        else:
            answer = [f"{rng.choice(WORDS)}{rng.choice(WORDS)}"]
            text = f"{text}：请填写关键词____"
        out.append(
            {
                "kind": kind,
                "text": text,
                "options": options,
                "answer": answer,
                "tag": tag,
                "difficulty": rng.choice((1, 2, 2, 3)),
            }
        )
    return out


def setup_main(opts: argparse.Namespace) -> None:
    import datetime

    django_setup(opts.database_url)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.db.models import Max
    from django.utils import timezone

    from gonghui.accounts.models import ApiToken, hash_token
    from gonghui.learning import services as learning
    from gonghui.learning.models import Difficulty, Question, QuestionKind
    from gonghui.orgs import services as org_services
    from gonghui.orgs.bulk import insert_rows
    from gonghui.orgs.demo import GIVEN, SURNAMES, synthetic_id_number
    from gonghui.orgs.identity import encrypt_id_number, id_number_hash, mask_id_number
    from gonghui.orgs.importing import name_keys
    from gonghui.orgs.models import (
        MEMBER_UNIT_KINDS,
        Member,
        MemberEvent,
        MemberEventKind,
        MemberSource,
        Org,
        OrgStatus,
        RoleKind,
    )
    from gonghui.orgs.scoping import SYSTEM
    from gonghui.stats import services as stats

    rng = random.Random(2026)
    User = get_user_model()
    root = Org.objects.get(parent__isnull=True)
    now = timezone.now()
    unusable = make_password(None)

    # The root's cadre, who reads the leaderboards.
    cadre = User.objects.create(username="bench_contest_cadre", password=unusable)
    org_services.grant_role(actor=SYSTEM, user=cadre, org=root, kind=RoleKind.ADMIN)
    cadre_token = ApiToken.new_raw_token()
    ApiToken.objects.create(user=cadre, key_hash=hash_token(cadre_token), prefix=cadre_token[:8])

    # The bank and the quiz, through the services.
    for q in bank_questions(opts.bank, rng):
        learning.add_question(
            SYSTEM,
            org=root,
            data=learning.QuestionInput(
                QuestionKind(q["kind"]),
                q["text"],
                options=q["options"],
                answer=q["answer"],
                tags=[q["tag"]],
                difficulty=Difficulty(q["difficulty"]),
            ),
        )
    quiz = learning.create_quiz(
        SYSTEM,
        org=root,
        data=learning.QuizInput(
            "全省职工学习贯彻工会法知识竞赛（压测）",
            rules=[
                learning.DrawRule(5, tag=TAGS[0]),
                learning.DrawRule(5, tag=TAGS[2]),
                learning.DrawRule(5, tag=TAGS[4]),
                learning.DrawRule(5),
            ],
            opens_at=now - datetime.timedelta(minutes=1),
            closes_at=now + datetime.timedelta(hours=12),
            description="每人一次，随机抽取20题。",
            time_limit_seconds=4 * 3600,  # long enough for the slowest run
            pass_mark=60,
            attempts_allowed=1,
            is_contest=True,
        ),
    )
    quiz = learning.publish_quiz(SYSTEM, quiz)

    # Members spread over every member unit of the tree, each with an account and token.
    units = list(
        Org.objects.filter(kind__in=MEMBER_UNIT_KINDS, status=OrgStatus.ACTIVE).values_list(
            "pk", "code"
        )
    )
    total = opts.members + ANALYSIS_MEMBERS
    before = Member.objects.aggregate(m=Max("pk"))["m"] or 0
    serials: Counter[str] = Counter()
    tokens: dict[int, str] = {}
    batch = 5000
    for start in range(0, total, batch):
        size = min(batch, total - start)
        with transaction.atomic():
            users = User.objects.bulk_create(
                [
                    User(username=f"contest_{start + i}", password=unusable, first_name="职工")
                    for i in range(size)
                ]
            )
            rows = []
            api_tokens = []
            for user in users:
                unit_id, code = rng.choice(units)
                county = code[:6]
                id_number = synthetic_id_number(county, 1_000_000 + serials[county])
                serials[county] += 1
                name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
                full, initials = name_keys(name)
                rows.append(
                    dict(
                        unit_id=unit_id,
                        user_id=user.pk,
                        name=name,
                        name_pinyin=full,
                        name_initials=initials,
                        gender="M" if int(id_number[16]) % 2 else "F",
                        birth_date=datetime.date(
                            int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])
                        ),
                        id_number_cipher=encrypt_id_number(id_number),
                        id_number_hash=id_number_hash(id_number),
                        id_number_masked=mask_id_number(id_number),
                        id_number_tail=id_number[-4:],
                        phone="",
                        joined_on=datetime.date(2024, 3, 1),
                        source=MemberSource.IMPORT,
                    )
                )
                raw = ApiToken.new_raw_token()
                tokens[user.pk] = raw
                api_tokens.append(ApiToken(user=user, key_hash=hash_token(raw), prefix=raw[:8]))
            insert_rows(Member, rows, batch_size=batch)
            ApiToken.objects.bulk_create(api_tokens, batch_size=batch)
        print(f"  setup: {start + size:,} / {total:,} members", flush=True)
    with connection.cursor() as cursor:  # the join facts behind the member figures
        cursor.execute(
            f'INSERT INTO "{MemberEvent._meta.db_table}" (member_id, unit_id, kind, day) '
            f'SELECT id, unit_id, %s, joined_on FROM "{Member._meta.db_table}" WHERE id > %s',
            [MemberEventKind.JOINED, before],
        )
    # The figures of everything written so far, as the demo ends: exact before the load.
    stats.rebuild(check=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    members = list(Member.objects.filter(pk__gt=before).order_by("pk").values_list("pk", "user_id"))
    pairs = [[pk, tokens[user_id]] for pk, user_id in members]
    bank = {}
    for q in Question.objects.filter(org=root, active=True):
        if q.kind == QuestionKind.FILL:
            bank[q.text] = {"kind": q.kind, "right": list(q.answer)}
        else:
            bank[q.text] = {"kind": q.kind, "right": [q.options[i] for i in q.answer]}
    data = {
        "root_id": root.pk,
        "quiz_id": quiz.pk,
        "cadre_token": cadre_token,
        "units": len(units),
        "orgs": Org.objects.count(),
        "bank_size": len(bank),
        "bank": bank,
        "members": pairs[: opts.members],
        "analysis": pairs[opts.members :],
    }
    Path(opts.out).write_text(json.dumps(data, ensure_ascii=False))


# --- answering, as a phone would -----------------------------------------------------


def answers_for(
    questions: list[dict[str, Any]],
    bank: dict[str, Any],
    skill: float,
    rng: random.Random,
    blank: float = 0.05,
) -> dict[str, Any]:
    """Right with probability `skill` (the client knows the bank), else a wrong answer;
    a share `blank` left unanswered."""
    answers: dict[str, Any] = {}
    for q in questions:
        known = bank.get(q["text"])
        roll = rng.random()
        if roll < blank:
            continue
        right = known is not None and roll < blank + skill * (1 - blank)
        key = str(q["position"])
        if q["kind"] == "fill":
            answers[key] = known["right"][0] if right else "不清楚"
            continue
        options = q["options"]
        correct = [i for i, o in enumerate(options) if known and o in known["right"]]
        if right:
            answers[key] = correct
        elif q["kind"] == "multiple":
            wrong = sorted(rng.sample(range(len(options)), rng.randint(1, len(options))))
            answers[key] = wrong if wrong != correct else [i for i in range(len(options))]
        else:
            answers[key] = [rng.choice([i for i in range(len(options)) if i not in correct])]
    return answers


# --- child: the load generator (asyncio, raw HTTP/1.1, no Django) ---------------------


async def contest_load(opts: argparse.Namespace) -> dict[str, Any]:
    setup = json.loads(Path(opts.setup).read_text())
    quiz_id, bank = setup["quiz_id"], setup["bank"]
    rng = random.Random(11)
    members = list(setup["members"])
    rng.shuffle(members)
    plans = {}
    at_once_total = after_total = doubles = 0
    for member, _token in members:
        again = rng.random() < opts.resubmit_share
        at_once = again and rng.random() < 0.4
        double = rng.random() < opts.double_start_share
        plans[member] = {
            "skill": rng.uniform(0.3, 1.0),
            "double": double,
            "at_once": int(at_once),
            "after": int(again and not at_once),
        }
        at_once_total += int(at_once)
        after_total += int(again and not at_once)
        doubles += int(double)
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    seen: dict[int, list[tuple[Any, ...]]] = defaultdict(list)  # every answer to a submit
    first: dict[int, tuple[Any, ...]] = {}
    attempt_of: dict[int, int] = {}
    double_mismatch = 0
    done_at: list[float] = []
    queue: asyncio.Queue[tuple[str, int, str] | None] = asyncio.Queue()
    for member, token in members:
        queue.put_nowait(("member", member, token))
    # Jobs not done yet: every member, plus each retry once it is scheduled (before the
    # job that schedules it completes, so the count never reaches 0 too early).
    outstanding = len(members)
    finished = asyncio.Event()
    started = time.perf_counter()
    started_at = time.time()

    def complete() -> None:
        nonlocal outstanding
        outstanding -= 1
        if outstanding == 0:
            finished.set()

    async def call(
        kind: str, http: Http, method: str, path: str, token: str, body: Any = None
    ) -> tuple[int | None, Any]:
        raw = json.dumps(body).encode() if body is not None else b""
        t0 = time.perf_counter()
        try:
            status, payload = await http.request(
                method, path, raw, {"Authorization": f"Bearer {token}"}
            )
        except Exception as exc:
            await http.close()
            errors.append(f"{kind}: {exc!r}")
            statuses[f"{kind} exception"] += 1
            return None, None
        latencies[kind].append((time.perf_counter() - t0) * 1000)
        statuses[f"{kind} {status}"] += 1
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        if status >= 400 and len(errors) < 50:
            errors.append(f"{kind} {status}: {payload[:200]!r}")
        return status, answer

    def remember(member: int, status: int | None, answer: Any, kind: str) -> None:
        if status != 200 or not isinstance(answer, dict):
            return
        outcome = (
            answer["attempt_id"],
            answer["status"],
            answer["score"],
            answer["correct"],
            answer["passed"],
            answer["total"],
        )
        seen[member].append(outcome)
        if member not in first:
            first[member] = outcome
            done_at.append(time.perf_counter() - started)

    async def submit(http: Http, member: int, token: str, kind: str, answers: Any) -> None:
        status, answer = await call(
            kind,
            http,
            "POST",
            f"/api/quizzes/attempts/{attempt_of[member]}/submit",
            token,
            {"answers": answers},
        )
        remember(member, status, answer, kind)

    last_answers: dict[int, Any] = {}

    def resubmit_later(member: int, token: str) -> None:
        nonlocal outstanding
        outstanding += 1
        delay = rng.uniform(0.0, 0.5)
        asyncio.get_running_loop().call_later(delay, queue.put_nowait, ("again", member, token))

    async def run_member(http: Http, member: int, token: str) -> None:
        nonlocal double_mismatch
        plan = plans[member]
        path = f"/api/quizzes/{quiz_id}/attempts"
        t0 = time.perf_counter()
        if plan["double"]:
            extra = Http(opts.port)
            (s1, a1), (s2, a2) = await asyncio.gather(
                call("start", http, "POST", path, token), call("start", extra, "POST", path, token)
            )
            await extra.close()
            ok = (
                {s1, s2} == {200, 201}
                and isinstance(a1, dict)
                and isinstance(a2, dict)
                and a1["attempt_id"] == a2["attempt_id"]
                and a1["questions"] == a2["questions"]
            )
            double_mismatch += not ok
            status, answer = (s1, a1) if s1 == 201 else (s2, a2)
        else:
            status, answer = await call("start", http, "POST", path, token)
        if status not in (200, 201) or not isinstance(answer, dict):
            return
        attempt_of[member] = answer["attempt_id"]
        answers = answers_for(answer["questions"], bank, plan["skill"], random.Random(member))
        last_answers[member] = answers
        if plan["at_once"]:
            extra = Http(opts.port)
            await asyncio.gather(
                submit(http, member, token, "submit", answers),
                submit(extra, member, token, "resubmit", answers),
            )
            await extra.close()
        else:
            await submit(http, member, token, "submit", answers)
        latencies["pair"].append((time.perf_counter() - t0) * 1000)
        if plan["after"]:
            resubmit_later(member, token)

    async def slot() -> None:
        http = Http(opts.port)
        while True:
            job = await queue.get()
            if job is None:
                break
            what, member, token = job
            try:
                if what == "member":
                    await run_member(http, member, token)
                elif member in attempt_of:
                    await submit(http, member, token, "resubmit", last_answers[member])
            except Exception as exc:  # a bug in the generator must not hang the run
                errors.append(f"{what}: {exc!r}")
                statuses[f"{what} generator error"] += 1
                await http.close()
            complete()
        await http.close()

    slots = [asyncio.create_task(slot()) for _ in range(opts.concurrency)]
    await finished.wait()
    seconds = time.perf_counter() - started
    ended_at = time.time()
    for _ in slots:
        queue.put_nowait(None)
    await asyncio.gather(*slots)
    disagreeing = sum(1 for outcomes in seen.values() if len(set(outcomes)) > 1)
    per_second = Counter(int(t) for t in done_at)
    whole = [per_second[s] for s in range(int(seconds))] if seconds >= 1 else []
    requests = sum(len(v) for k, v in latencies.items() if k != "pair")
    every = [x for k, v in latencies.items() if k != "pair" for x in v]
    bad = sum(v for k, v in statuses.items() if not k.endswith((" 200", " 201")))
    return {
        "members": len(members),
        "submitted": len(first),
        "seconds": round(seconds, 2),
        "started_at": started_at,
        "ended_at": ended_at,
        "submitted_per_s": round(len(first) / seconds, 1),
        "requests": requests,
        "requests_per_s": round(requests / seconds, 1),
        "per_second_median": statistics.median(whole) if whole else None,
        "per_second_max": max(whole) if whole else None,
        "double_starts": doubles,
        "double_start_mismatch": double_mismatch,
        "resubmits_at_once": at_once_total,
        "resubmits_after": after_total,
        "disagreeing_members": disagreeing,
        "passed": sum(1 for o in first.values() if o[4]),
        "mean_score": round(statistics.mean(o[2] for o in first.values()), 1) if first else None,
        "latency": {
            **{k: latency_summary(v) for k, v in latencies.items()},
            "all": latency_summary(every),
        }
        | {
            k: latency_summary([])
            for k in ("start", "submit", "resubmit", "pair")
            if k not in latencies
        },
        "statuses": dict(statuses),
        "errors": bad,
        "error_samples": errors[:8],
        # [member, attempt, score, correct, passed, status] as the phone was told first.
        "results": [[m, o[0], o[2], o[3], o[4], o[1]] for m, o in first.items()],
    }


def load_main(opts: argparse.Namespace) -> None:
    result = asyncio.run(contest_load(opts))
    Path(opts.out).write_text(json.dumps(result))


# --- child: the leaderboard reader ---------------------------------------------------


async def read_boards(opts: argparse.Namespace) -> dict[str, Any]:
    http = Http(opts.port)
    stop = Path(opts.stop_file)
    samples: list[list[Any]] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {opts.token}"}
    while not stop.exists():
        for kind in ("members", "units"):
            path = f"/api/points/leaderboard?org_id={opts.root}&kind={kind}"
            at = time.time()
            t0 = time.perf_counter()
            try:
                status, payload = await http.request("GET", path, headers=headers)
            except Exception as exc:
                await http.close()
                errors.append(repr(exc))
                continue
            took = (time.perf_counter() - t0) * 1000
            rows = top = None
            if status == 200:
                body = json.loads(payload)
                listed = body["members"] if kind == "members" else body["units"]
                rows = len(listed)
                top = listed[0]["points"] if listed else None
            elif len(errors) < 20:
                errors.append(f"{status}: {payload[:200]!r}")
            samples.append([kind, at, round(took, 3), status, rows, top])
        if opts.pause:
            await asyncio.sleep(opts.pause)
    await http.close()
    return {"samples": samples, "errors": errors}


def boards_main(opts: argparse.Namespace) -> None:
    result = asyncio.run(read_boards(opts))
    Path(opts.out).write_text(json.dumps(result))


# --- child: the cost of each call, taken apart (Django in-process) --------------------


def statement_kind(sql: str, in_atomic: bool) -> str:
    words = sql.lstrip().split(None, 3)
    kind = words[0].upper() if words else "?"
    if kind in ("INSERT", "UPDATE", "DELETE") and len(words) > 2:
        kind = f"{kind} {words[2] if kind == 'INSERT' else words[1]}".replace('"', "")
    elif kind == "SELECT":
        at = sql.find(" FROM ")
        kind = "SELECT " + (sql[at + 6 :].split(None, 1)[0].replace('"', "") if at > 0 else "")
    if not in_atomic and kind.split()[0] in ("INSERT", "UPDATE"):
        kind += " (autocommit)"
    return kind


def analyse_main(opts: argparse.Namespace) -> None:
    django_setup(opts.database_url)
    import cProfile
    import pstats

    from django.db import connection
    from django.db.models import Sum
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from gonghui.learning.models import Attempt, AttemptStatus, PointsEntry, QuizResult
    from gonghui.stats import services as stats
    from gonghui.stats.models import SubtreeCount

    setup = json.loads(Path(opts.setup).read_text())
    quiz_id, bank, root = setup["quiz_id"], setup["bank"], setup["root_id"]
    members = setup["analysis"]
    client = Client()
    rng = random.Random(5)

    from gonghui.wsgi import application

    def served(path: str, token: str, body: Any) -> tuple[int, bytes]:
        # The production WSGI application, as the server calls it (the API's fast lane).
        return wsgi_post(application, path, token, body)

    def start(token: str, expect: int = 201) -> dict[str, Any]:
        code, out = served(f"/api/quizzes/{quiz_id}/attempts", token, None)
        assert code == expect, (code, out[:300])
        return json.loads(out)

    def submit(token: str, attempt: dict[str, Any], skill: float) -> dict[str, Any]:
        answers = answers_for(attempt["questions"], bank, skill, rng, 0.05 if skill < 1 else 0)
        code, out = served(
            f"/api/quizzes/attempts/{attempt['attempt_id']}/submit", token, {"answers": answers}
        )
        assert code == 200, (code, out[:300])
        return json.loads(out)

    def board(kind: str) -> Any:
        # Through the production WSGI application too (the lane serves a board's reads).
        code, out = wsgi_post(
            application,
            "/api/points/leaderboard",
            setup["cadre_token"],
            None,
            method="GET",
            query=f"org_id={root}&kind={kind}",
        )
        assert code == 200, (code, out[:300])
        return json.loads(out)

    def healthz() -> None:
        assert client.get("/healthz").status_code == 200

    # Warm up: imports, URL resolver, the first of each.
    token0 = members[0][1]
    submit(token0, start(token0), 1.0)
    board("members")
    board("units")
    healthz()

    # The statements of each call. (Taken right away: a request outside a capture resets
    # the connection's log, which the capture's slice points into.)
    captured: dict[str, list[dict[str, Any]]] = {}

    def capture(key: str, fn: Any) -> Any:
        with CaptureQueriesContext(connection) as c:
            result = fn()
        captured[key] = list(c.captured_queries)
        return result

    token1, token2 = members[1][1], members[2][1]
    attempt1 = capture("start", lambda: start(token1))
    resumed = capture("resume", lambda: start(token1, expect=200))
    assert resumed["attempt_id"] == attempt1["attempt_id"]
    assert capture("submit", lambda: submit(token1, attempt1, 1.0))["passed"]
    again = capture("resubmit", lambda: submit(token1, attempt1, 0.0))
    assert again["score"] == 100, again
    attempt2 = start(token2)
    assert not capture("submit_failed", lambda: submit(token2, attempt2, 0.0))["passed"]
    # The boards are cached for 2 s: forget them, to count the statements of computing one.
    from gonghui.learning.selectors import forget_leaderboards

    capture("board_members", lambda: (forget_leaderboards(), board("members"))[1])
    capture("board_units", lambda: (forget_leaderboards(), board("units"))[1])
    capture("healthz", healthz)
    queries = {k: len(c) for k, c in captured.items()}
    listing = {
        k: [" ".join(q["sql"].split())[:140] for q in c]
        for k, c in captured.items()
        if k != "healthz"
    }

    # The plans of the leaderboards' own statements, on the data the load left.
    plans = {}
    for key, needle in (
        ("board_members", '"learning_pointsbalance"'),
        ("board_units", '"stats_subtreecount"'),
    ):
        sql = next(q["sql"] for q in captured[key] if needle in q["sql"])
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plans[key] = {"sql": sql[:3000], "plan": [row[0] for row in cursor.fetchall()]}

    # CPU and time inside statements per call, over many calls.
    by_kind: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    commit_time = [0.0]

    def timed_execute(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = statement_kind(sql, connection.in_atomic_block)
            by_kind[kind] += time.perf_counter() - t0
            calls[kind] += 1

    connection.ensure_connection()
    raw_connection = connection.connection
    original_commit = raw_connection.commit

    def timed_commit() -> None:
        t0 = time.perf_counter()
        try:
            original_commit()
        finally:
            commit_time[0] += time.perf_counter() - t0

    raw_connection.commit = timed_commit
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]

    totals: dict[str, dict[str, Any]] = {}

    def run_block(key: str, fns: list[Any]) -> None:
        """Run `fns` timed; the figures add up under `key` over several blocks."""
        by_kind.clear()
        calls.clear()
        commit_time[0] = 0.0
        pg0 = proc_cpu(backend_pid)
        with connection.execute_wrapper(timed_execute):
            t0, c0 = time.perf_counter(), time.process_time()
            for fn in fns:
                fn()
            wall, app = time.perf_counter() - t0, time.process_time() - c0
        total = totals.setdefault(
            key,
            {"n": 0, "wall": 0.0, "app": 0.0, "pg": 0.0, "commit": 0.0, "kinds": Counter(),
             "calls": Counter()},
        )  # fmt: skip
        total["n"] += len(fns)
        total["wall"] += wall
        total["app"] += app
        total["pg"] += proc_cpu(backend_pid) - pg0
        total["commit"] += commit_time[0]
        total["kinds"].update(by_kind)
        total["calls"].update(calls)

    def summary(key: str) -> dict[str, Any]:
        t = totals[key]
        n = t["n"]
        db = (sum(t["kinds"].values()) + t["commit"]) / n * 1000
        per = t["wall"] / n * 1000
        return {
            "calls": n,
            "wall_ms": round(per, 2),
            "app_cpu_ms": round(t["app"] / n * 1000, 2),
            "postgres_cpu_ms": round(t["pg"] / n * 1000, 2),
            "db_ms": round(db, 2),
            "db_share": round(db / per, 3) if per else None,
            "python_ms": round(per - db, 2),
            "commit_ms": round(t["commit"] / n * 1000, 3),
            "statements_per_call": round(sum(t["calls"].values()) / n, 1),
            "by_statement_ms": {
                k: round(v / n * 1000, 3)
                for k, v in sorted(t["kinds"].items(), key=lambda kv: -kv[1])
            },
        }

    # The bank's question ids per drawing rule are cached by `learning.services` itself
    # now (keyed by the bank's version), so the former proposal patched in here is gone:
    # every block measures the real start.
    started: list[tuple[str, dict[str, Any]]] = []
    for block in range(8):
        tokens = [t for _m, t in members[10 + 50 * block : 60 + 50 * block]]
        run_block("start", [lambda t=t: started.append((t, start(t))) for t in tokens])
    run_block("submit", [lambda t=t, a=a: submit(t, a, rng.uniform(0.3, 1.0)) for t, a in started])
    run_block("board_members", [lambda: board("members")] * 50)
    run_block("board_units", [lambda: board("units")] * 50)
    run_block("healthz", [healthz] * 500)
    raw_connection.commit = original_commit
    cost = {key: summary(key) for key in totals}

    # Where the Python time goes (cProfile of 100 more of each, by library and function).
    def profile(fns: list[Any]) -> dict[str, Any]:
        prof = cProfile.Profile()
        prof.enable()
        for fn in fns:
            fn()
        prof.disable()
        raw = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        total = sum(v[2] for v in raw.values())
        libraries: Counter[str] = Counter()
        for (filename, _line, name), (_cc, _nc, tt, _ct, _callers) in raw.items():
            if filename == "~":
                library = "built-ins: " + (
                    "socket and select (waiting on PostgreSQL)"
                    if any(w in name for w in ("recv", "send", "select", "poll", "wait"))
                    else "other (str, dict, isinstance…)"
                )
            else:
                library = next(
                    (label for needle, label in LEAF_KINDS if needle in filename),
                    "other (stdlib: json, logging, inspect…)",
                )
            libraries[library] += tt
        hot = []
        for (filename, line, name), (_cc, _nc, _tt, ct, _callers) in raw.items():
            if "/gonghui/" in filename:
                where = f"{Path(filename).parent.name}/{Path(filename).name}:{line}({name})"
                hot.append((ct, where))
        hot.sort(reverse=True)
        return {
            "total_ms_per_call": round(total * 1000 / len(fns), 2),
            "by_library": {k: round(v / total, 3) for k, v in libraries.most_common()},
            "top": [
                {"where": w, "ms_per_call": round(ct / len(fns) * 1000, 2)} for ct, w in hot[:22]
            ],
        }

    started = []
    profiles = {
        "start": profile([lambda t=t: started.append((t, start(t))) for _m, t in members[410:510]]),
    }
    profiles["submit"] = profile(
        [lambda t=t, a=a: submit(t, a, rng.uniform(0.3, 1.0)) for t, a in started]
    )
    profiles["board_members"] = profile([lambda: board("members")] * 30)
    profiles["board_units"] = profile([lambda: board("units")] * 30)

    # The rest of the analysis members take the quiz too (the verification counts them).
    for _m, t in [*members[3:10], *members[510:]]:
        submit(t, start(t), rng.uniform(0.3, 1.0))

    # The fold, then the figures against the facts.
    t0 = time.perf_counter()
    folded = stats.fold_pending()
    fold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    differences = stats.rebuild(check=True)
    rebuild_s = time.perf_counter() - t0
    root_counts = dict(
        SubtreeCount.objects.filter(
            org_id=root, metric__in=["learning.attempts", "learning.passed", "points"]
        ).values_list("metric", "value")
    )
    exact = {
        "folded": folded,
        "fold_s": round(fold_s, 2),
        "differences": len(differences),
        "difference_samples": [str(d) for d in differences[:5]],
        "rebuild_s": round(rebuild_s, 2),
        "root_attempts": root_counts.get("learning.attempts", 0),
        "attempt_rows": Attempt.objects.exclude(status=AttemptStatus.IN_PROGRESS).count(),
        "root_passed": root_counts.get("learning.passed", 0),
        "passed_rows": QuizResult.objects.filter(passed=True).count(),
        "root_points": root_counts.get("points", 0),
        "points_sum": PointsEntry.objects.aggregate(s=Sum("points"))["s"] or 0,
    }
    exact["ok"] = (
        not differences
        and exact["root_attempts"] == exact["attempt_rows"]
        and exact["root_passed"] == exact["passed_rows"]
        and exact["root_points"] == exact["points_sum"]
    )
    data = {
        "queries": queries,
        "statements": listing,
        "cost": cost,
        "profiles": profiles,
        "plans": plans,
        "exact": exact,
    }
    Path(opts.out).write_text(json.dumps(data, ensure_ascii=False))


# --- entry point of the child processes -------------------------------------------------


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    setup = sub.add_parser("setup")
    setup.add_argument("--members", type=int, required=True)
    setup.add_argument("--bank", type=int, required=True)
    setup.add_argument("--database-url", required=True)
    setup.add_argument("--out", required=True)
    load = sub.add_parser("load")
    load.add_argument("--port", type=int, required=True)
    load.add_argument("--concurrency", type=int, required=True)
    load.add_argument("--setup", required=True)
    load.add_argument("--resubmit-share", type=float, default=0.3)
    load.add_argument("--double-start-share", type=float, default=0.05)
    load.add_argument("--out", required=True)
    boards = sub.add_parser("boards")
    boards.add_argument("--port", type=int, required=True)
    boards.add_argument("--root", type=int, required=True)
    boards.add_argument("--token", required=True)
    boards.add_argument("--pause", type=float, default=0.0)
    boards.add_argument("--stop-file", required=True)
    boards.add_argument("--out", required=True)
    analyse = sub.add_parser("analyse")
    analyse.add_argument("--setup", required=True)
    analyse.add_argument("--database-url", required=True)
    analyse.add_argument("--out", required=True)
    opts = parser.parse_args(argv)
    {"setup": setup_main, "load": load_main, "boards": boards_main, "analyse": analyse_main}[
        opts.what
    ](opts)


if __name__ == "__main__":
    main(sys.argv[1:])
