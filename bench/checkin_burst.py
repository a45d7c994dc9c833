"""Check-in burst: a whole grassroots union checks in at once through the HTTP API, served
the production way (gunicorn, DEBUG off, PostgreSQL), with a retry storm.

`python bench/run.py checkin` builds a fresh database (gonghui_bench_checkin: migrate,
`gonghui demo --scale tiny`, then one grassroots union per server variant with
`--members` members, each with a worker account and an API token, and one lecture open
for check-in there), then for each server variant (`--variants`, e.g. sync:5 and
gthread:5x4):

1. starts gunicorn with `gonghui.wsgi` on 127.0.0.1 (a free port);
2. trivial: a load generator process sends `GET /healthz` (the framework plus one
   `SELECT 1`: the ceiling) from `--concurrency` connections for `--trivial-seconds`;
3. burst: the same process sends every member's `POST /api/activities/{id}/check-in`
   (`{"code": …}` or, for `--qr-share` of them, `{"token": …}` as scanned from the
   venue's screen, fetched from `GET /api/activities/{id}/qr` by a cadre) all at once,
   through `--concurrency` connections, with a retry storm: each member's request is
   retried 1–3 times, some retries sent at the same moment as the first (a double tap
   on two phones), the others after the answer came (a phone that lost it);
4. verifies from the database: lost (answered 200 without a CheckIn row) and
   duplicated (two rows, or two `created: true`) must both be zero.

CPU of the load generator (its own process), of the gunicorn processes and of the
PostgreSQL backends is measured per phase, and the machine's busy share. Afterwards the
check-in's cost is taken apart in one process (the production WSGI application, the same views):
queries per check-in (CaptureQueriesContext) and the time in the database against the
time in Python. Then the stats fold runs and `rebuild(check=True)` must find nothing.

This file is also the child processes: `setup`, `load` and `analyse` (see `main`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import (
    DB,
    REPO,
    SERVER,
    VAR_DIR,
    admin_connect,
    close_django_connections,
    create_db,
    drop_db,
    ms,
    percentile,
    query,
    run_gonghui,
    save,
    table,
)

CHECKIN_DB = f"{DB}_checkin"
GUNICORN = str(REPO / ".venv" / "bin" / "gunicorn")
GRANIAN = str(REPO / ".venv" / "bin" / "granian")
PY_SPY = REPO / ".venv" / "bin" / "py-spy"
GOAL_RATE = 1000
GOAL_SHARE = 0.40
GOAL_P99_MS = 200.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- options --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("checkin")
    group.add_argument("--members", type=int, default=3000, help="members checking in at once")
    group.add_argument(
        "--variants",
        default="sync:5,gthread:3x4,granian:2x4,lean+granian:2x4",
        help="gunicorn set-ups, comma-separated: [lean+]CLASS:WORKERS[xTHREADS][@NAME=VALUE…] "
        "(lean+: the proposal of bench/checkin_lean.py in front of the project's application; "
        "@NAME=VALUE: set in the server's environment, e.g. GONGHUI_API_LANE=0, or PYTHONPATH "
        "naming another checkout's src and this bench directory, to compare two versions of "
        "the code in one run)",
    )
    group.add_argument(
        "--concurrency", type=int, default=32, help="requests in flight from the load generator"
    )
    group.add_argument(
        "--trivial-seconds", type=float, default=6, help="length of the GET /healthz phase"
    )
    group.add_argument(
        "--qr-share", type=float, default=0.5, help="share of members sending the QR token"
    )
    group.add_argument(
        "--py-spy",
        action="store_true",
        help="sample the gunicorn workers with py-spy during each burst (when installed)",
    )


def variant_slug(variant: dict[str, Any]) -> str:
    """The variant's name as a file name's part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", variant["name"]).strip("-")[:80]


def parse_variants(spec: str) -> list[dict[str, Any]]:
    variants = []
    for part in spec.split(","):
        spec_part, *assignments = part.strip().split("@")
        kind, _, size = spec_part.partition(":")
        lean = kind.startswith("lean+")
        workers, _, threads = size.partition("x")
        variants.append(
            {
                "name": part.strip(),
                "env": dict(a.partition("=")[::2] for a in assignments),
                "lean": lean,
                "app": "checkin_lean:application" if lean else "gonghui.wsgi:application",
                "path": "/bench/lean/activities/" if lean else "/api/activities/",
                "worker_class": kind.removeprefix("lean+"),
                "workers": int(workers or 2 * (os.cpu_count() or 1) + 1),
                "threads": int(threads or 1),
            }
        )
    return variants


# --- parent ---------------------------------------------------------------------------


def bench_checkin(args: argparse.Namespace) -> dict[str, Any]:
    variants = parse_variants(args.variants)
    url = f"{SERVER}/{CHECKIN_DB}"
    close_django_connections()
    drop_db(CHECKIN_DB)
    create_db(CHECKIN_DB)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns without it
    print(f"checkin: fresh database {CHECKIN_DB}: migrate, tiny demo, {args.members:,} members")
    started = time.perf_counter()
    run_gonghui(["migrate", "--noinput", "-v", "0"], CHECKIN_DB)
    run_gonghui(["demo", "--scale", "tiny", "-v", "0"], CHECKIN_DB)
    setup_file = Path(tempfile.mkstemp(prefix="gonghui-checkin-", suffix=".json")[1])
    child(
        ["setup", "--members", str(args.members), "--cohorts", str(len(variants))],
        url,
        setup_file,
    )
    setup = json.loads(setup_file.read_text())
    # As a production database is: vacuumed and analyzed (autovacuum may be off on the
    # bench's server). Without statistics, the prepared statements' generic plans were
    # made for empty tables: a check-in's units were found by a scan of every org.
    with admin_connect(CHECKIN_DB) as conn:
        conn.execute("VACUUM ANALYZE")
    setup_s = round(time.perf_counter() - started, 1)
    print(f"checkin: set up in {setup_s} s (union {setup['union_name']} ×{len(variants)})")
    runs = []
    try:
        for variant, cohort in zip(variants, setup["cohorts"], strict=True):
            runs.append(run_variant(args, variant, cohort, setup, url))
        analysis_file = Path(tempfile.mkstemp(prefix="gonghui-checkin-", suffix=".json")[1])
        print("checkin: queries per check-in and where the time goes (in one process)")
        child(["analyse", "--setup", str(setup_file)], url, analysis_file)
        analysis = json.loads(analysis_file.read_text())
        analysis_file.unlink(missing_ok=True)
    finally:
        setup_file.unlink(missing_ok=True)
    data = {
        "options": {
            "members": args.members,
            "variants": args.variants,
            "concurrency": args.concurrency,
            "trivial_seconds": args.trivial_seconds,
            "qr_share": args.qr_share,
        },
        "database": CHECKIN_DB,
        "setup_s": setup_s,
        "runs": runs,
        "analysis": analysis,
    }
    data["goals"] = goals(data)
    report(data)
    save("checkin", data)
    return data


def child(argv: list[str], url: str, out: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "GONGHUI_VAR_DIR": str(VAR_DIR),
        "GONGHUI_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        *argv,
        "--database-url",
        url,
        "--out",
        str(out),
    ]
    code = subprocess.run(cmd, env=env, cwd=REPO, check=False).returncode
    if code != 0:
        raise SystemExit(f"checkin: {argv[0]} failed ({code})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(variant: dict[str, Any], url: str, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "GONGHUI_VAR_DIR": str(VAR_DIR),
        "GONGHUI_DEBUG": "0",
        "LOG_LEVEL": "ERROR",
        # Persistent database connections, as in production (the default is 60 s).
        "CONN_MAX_AGE": "600",
        "PYTHONUNBUFFERED": "1",
    }
    if variant["worker_class"] == "granian":
        # Granian (a Rust HTTP server): W worker processes, each running the WSGI
        # application in T blocking threads.
        cmd = [
            GRANIAN,
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(variant["workers"]),
            "--blocking-threads",
            str(variant["threads"]),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "--no-access-log",
            variant["app"],
        ]
        env["PYTHONPATH"] = str(REPO / "bench")
        env.update(variant["env"])
        proc = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        return _wait_until_serving(proc, port, log)
    cmd = [
        GUNICORN,
        variant["app"],
        "--pythonpath",
        str(REPO / "bench"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(variant["workers"]),
        "--worker-class",
        variant["worker_class"],
        "--threads",
        str(variant["threads"]),
        "--backlog",
        "2048",
        "--timeout",
        "120",
        "--keep-alive",
        "5",
        "--worker-tmp-dir",
        "/dev/shm",  # noqa: S108  (gunicorn's heartbeat files, in memory as it advises)
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]
    env.update(variant["env"])
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    return _wait_until_serving(proc, port, log)


def _wait_until_serving(proc: subprocess.Popen, port: int, log: Path) -> subprocess.Popen:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"checkin: the server exited ({proc.returncode}); see {log}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1) as s,
        ):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                return proc
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("checkin: gunicorn did not answer /healthz within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # SIGTERM to the master we started: graceful shutdown
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- CPU accounting from /proc ---------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def postgres_pids(dbname: str = CHECKIN_DB) -> dict[str, list[int]]:
    """PostgreSQL processes: the backends of the bench database, and all of them."""
    ours = [
        pid
        for (pid,) in query(
            "postgres",
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        )
    ]
    every = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    every.append(int(entry.name))
    return {"ours": ours, "all": every}


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuWindow:
    """CPU seconds used by the server, PostgreSQL and the whole machine over a phase."""

    def __init__(self, server: subprocess.Popen, dbname: str = CHECKIN_DB) -> None:
        self.server = server
        self.dbname = dbname
        self.seen: dict[str, dict[int, float]] = {"server": {}, "pg_ours": {}, "pg_all": {}}
        self.stop = threading.Event()

    def sample(self) -> None:
        """Every half second, the CPU of each process seen: a backend that ends during the
        phase (a connection closed) keeps what it used until then."""
        while not self.stop.wait(0.5):
            with contextlib.suppress(Exception):
                self.remember(self.snapshot())

    def remember(self, snap: dict[str, Any]) -> None:
        for key, seen in self.seen.items():
            for pid, cpu in snap[key].items():
                seen[pid] = max(seen.get(pid, 0.0), cpu)

    def snapshot(self) -> dict[str, Any]:
        workers = children_of(self.server.pid)
        pg = postgres_pids(self.dbname)
        return {
            "server": {pid: proc_cpu(pid) for pid in [self.server.pid, *workers]},
            "pg_ours": {pid: proc_cpu(pid) for pid in pg["ours"]},
            "pg_all": {pid: proc_cpu(pid) for pid in pg["all"]},
            "machine": machine_busy(),
            "at": time.monotonic(),
        }

    def __enter__(self) -> CpuWindow:
        self.before = self.snapshot()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()
        self.after = self.snapshot()
        self.remember(self.after)

    def result(self) -> dict[str, Any]:
        def delta(key: str) -> float:
            last, before = self.seen[key], self.before[key]
            return sum(max(0.0, cpu - before.get(p, 0.0)) for p, cpu in last.items())

        wall = self.after["at"] - self.before["at"]
        (b1, t1), (b0, t0) = self.after["machine"], self.before["machine"]
        cpus = os.cpu_count() or 1
        return {
            "wall_s": round(wall, 2),
            "server_cpu_s": round(delta("server"), 2),
            "postgres_ours_cpu_s": round(delta("pg_ours"), 2),
            "postgres_all_cpu_s": round(delta("pg_all"), 2),
            "machine_busy_share": round((b1 - b0) / (t1 - t0), 3) if t1 > t0 else None,
            "cores": cpus,
        }


def run_loader(
    argv: list[str], server: subprocess.Popen, dbname: str = CHECKIN_DB
) -> dict[str, Any]:
    """The load generator as a process of its own, with its CPU time (os.wait4)."""
    out = Path(tempfile.mkstemp(prefix="gonghui-load-", suffix=".json")[1])
    cmd = [sys.executable, str(Path(__file__).resolve()), "load", *argv, "--out", str(out)]
    with CpuWindow(server, dbname) as window:
        proc = subprocess.Popen(cmd, cwd=REPO)
        _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("checkin: the load generator failed")
    result = json.loads(out.read_text())
    out.unlink(missing_ok=True)
    cpu = window.result()
    cpu["loader_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    # Whatever else ran on the machine meanwhile (other jobs, other databases).
    busy = (cpu["machine_busy_share"] or 0) * cpu["cores"] * cpu["wall_s"]
    ours = cpu["server_cpu_s"] + cpu["postgres_all_cpu_s"] + cpu["loader_cpu_s"]
    cpu["others_cpu_s"] = round(max(0.0, busy - ours), 2)
    cpu["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["cpu"] = cpu
    return result


def run_variant(
    args: argparse.Namespace,
    variant: dict[str, Any],
    cohort: dict[str, Any],
    setup: dict[str, Any],
    url: str,
) -> dict[str, Any]:
    port = free_port()
    slug = variant_slug(variant)
    log = VAR_DIR / f"gunicorn-checkin-{slug}.log"
    log.unlink(missing_ok=True)
    server_name = "granian" if variant["worker_class"] == "granian" else "gunicorn"
    print(
        f"checkin: {variant['name']}: {server_name} {variant['app']}, {variant['worker_class']}, "
        f"{variant['workers']} workers × {variant['threads']} threads on 127.0.0.1:{port}",
        flush=True,
    )
    server = start_server(variant, url, port, log)
    spy = None
    try:
        common = ["--port", str(port), "--concurrency", str(args.concurrency)]
        # Every worker (thread) opens its database connection before anything is timed.
        run_loader([*common, "--mode", "trivial", "--seconds", "1"], server)
        trivial = run_loader(
            [*common, "--mode", "trivial", "--seconds", str(args.trivial_seconds)], server
        )
        print(
            f"  trivial GET /healthz: {trivial['per_s']:,.0f}/s, p50 "
            f"{ms(trivial['latency']['p50_ms'])} ms, p99 {ms(trivial['latency']['p99_ms'])} ms",
            flush=True,
        )
        members_file = Path(tempfile.mkstemp(prefix="gonghui-members-", suffix=".json")[1])
        members_file.write_text(json.dumps(cohort))
        if args.py_spy and PY_SPY.exists():
            spy = start_py_spy(server, variant)
        try:
            burst = run_loader(
                [
                    *common,
                    "--mode",
                    "burst",
                    "--cohort",
                    str(members_file),
                    # One argument: a token may begin with "-", which argparse would
                    # take for an option of its own.
                    f"--cadre-token={setup['cadre_token']}",
                    "--qr-share",
                    str(args.qr_share),
                    "--path",
                    variant["path"],
                ],
                server,
            )
        finally:
            members_file.unlink(missing_ok=True)
    finally:
        stop_server(server)
        if spy is not None:
            spy["proc"].wait(timeout=120)
    verify = verify_burst(cohort, burst)
    burst.pop("ok_members", None)
    burst.pop("created_members", None)
    print(
        f"  burst: {burst['requests']:,} check-in requests in {burst['seconds']} s = "
        f"{burst['per_s']:,.0f}/s ({burst['created_per_s']:,.0f} new/s; sustained "
        f"{burst['sustained_per_s']:,.0f}/s over the first {burst['sustained_seconds']} s), p50 "
        f"{ms(burst['latency']['p50_ms'])} ms, p99 {ms(burst['latency']['p99_ms'])} ms; "
        f"lost {verify['lost']}, duplicated {verify['duplicated']}",
        flush=True,
    )
    errors = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    return {
        "variant": variant,
        "trivial": trivial,
        "burst": burst,
        "verify": verify,
        "ratio": round(burst["per_s"] / trivial["per_s"], 3) if trivial["per_s"] else None,
        "ratio_sustained": round(burst["sustained_per_s"] / trivial["per_s"], 3)
        if trivial["per_s"] and burst["sustained_per_s"]
        else None,
        "ratio_new": round(burst["created_per_s"] / trivial["per_s"], 3)
        if trivial["per_s"]
        else None,
        "server_errors_log_tail": errors,
        "py_spy": summarise_stacks(spy["out"]) if spy is not None else None,
    }


def start_py_spy(server: subprocess.Popen, variant: dict[str, Any]) -> dict[str, Any]:
    """Sample every worker of the server for the burst, as raw stacks (collapsed)."""
    slug = variant_slug(variant)
    out = VAR_DIR / f"py-spy-checkin-{slug}.txt"
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
            "200",
            "--duration",
            "25",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attach before the burst starts
    return {"proc": proc, "out": out}


# Where a sample's time goes: the innermost frame's library (leaf first).
LEAF_KINDS = (
    ("psycopg/", "psycopg: waiting on PostgreSQL, adapting rows"),
    ("django/db/models/", "Django ORM: building and compiling SQL, making objects"),
    ("django/db/backends/", "Django database layer (cursor wrappers)"),
    ("pydantic", "ninja and pydantic: parsing, validating, serialising"),
    ("ninja/", "ninja and pydantic: parsing, validating, serialising"),
    ("gonghui/", "Gonghui's own code"),
    ("checkin_lean.py", "the proposal's own code (bench/checkin_lean.py)"),
    ("django/", "Django: middleware, request, response, URL resolving"),
    ("gunicorn/", "gunicorn: accepting, parsing, writing"),
    ("granian/", "granian: handing the request to a thread"),
)
# Inclusive shares of request time: every sample whose stack passes through them.
STEPS = (
    # The API's fast lane (api/lane.py), where a check-in with a bearer token goes.
    ("LaneApplication", "the API's fast lane"),
    ("read_check_in_by_api_token", "  the read: token, activity, member, unit, check-in"),
    ("token_used", "  the token's use recorded"),
    ("write_check_in", "  the write: one statement"),
    # The full stack (Django, ninja), where anything else goes.
    ("BearerToken.authenticate", "token auth (SELECT token, UPDATE last_used_at)"),
    ("activity_check_in", "the API view"),
    ("check_in_self", "services.check_in_self (code)"),
    ("check_in_with_token", "services.check_in_with_token (QR)"),
    ("activity_of_token", "  activity of the token (SELECT activity, signature)"),
    ("require_code_attempts_left", "  wrong-code limit (COUNT of refusals)"),
    ("member_of", "  member_of (SELECT member + unit)"),
    ("in_audience", "  in_audience (SELECT audience units)"),
    ("check_in (gonghui/activities/services", "  services.check_in"),
    ("_insert_checkin", "  INSERT check-in"),
    ("mark_distinct", "  distinct marks"),
    ("_reach_units", "  units reached"),
    ("emit_counts", "  figure changes (INSERT factdelta)"),
    ("record (gonghui/audit", "  audit entry"),
    ("lean_check_in", "the proposal (bench/checkin_lean.py)"),
)


def summarise_stacks(path: Path, steps_of: tuple[tuple[str, str], ...] = STEPS) -> dict[str, Any]:
    """py-spy's raw stacks of the workers: the share of in-request samples by the library
    of the innermost frame, and by the steps of the check-in they pass through."""
    if not path.exists():
        return {}
    total = in_request = 0
    leaf: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        samples = int(n)
        total += samples
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not any(
            "django/core/handlers/" in f or "gonghui/api/lane.py" in f or "checkin_lean.py" in f
            for f in frames
        ):
            continue  # a worker (thread) waiting for a request
        in_request += samples
        kind = "other (stdlib: json, logging, sockets…)"
        for frame in reversed(frames):
            found = next((label for needle, label in LEAF_KINDS if needle in frame), None)
            if found:
                kind = found
                break
        leaf[kind] += samples
        for needle, label in steps_of:
            # A needle naming its file ("name (path") is a function of that file only.
            if any(f.startswith(needle) if " (" in needle else needle in f for f in frames):
                steps[label] += samples
    share = (lambda c: {k: round(v / in_request, 3) for k, v in c.items()}) if in_request else None
    return {
        "samples": total,
        "in_request_share": round(in_request / total, 3) if total else None,
        "by_innermost_library": share(Counter(dict(leaf.most_common()))) if share else {},
        "by_step": {label: round(steps[label] / in_request, 3) for _n, label in steps_of}
        if in_request
        else {},
        "file": str(path.relative_to(REPO)),
    }


def verify_burst(cohort: dict[str, Any], burst: dict[str, Any]) -> dict[str, Any]:
    """From the database: every member answered 200 has one CheckIn row, no one has two."""
    activity = cohort["activity_id"]
    rows = query(
        CHECKIN_DB,
        "SELECT member_id, count(*) FROM activities_checkin WHERE activity_id = %s "
        "GROUP BY member_id",
        [activity],
    )
    in_db = {member for member, _n in rows}
    duplicated_rows = sum(1 for _m, n in rows if n > 1)
    ok = set(burst["ok_members"])
    created = Counter(burst["created_members"])
    members = {m for m, _t in cohort["members"]}
    return {
        "members": len(members),
        "answered_200": len(ok),
        "checkin_rows": sum(n for _m, n in rows),
        "lost": len(ok - in_db),
        "duplicated": duplicated_rows + sum(1 for n in created.values() if n > 1),
        "created_true": sum(created.values()),
        "never_answered_200": len(members - ok),
        "rows_without_200": len(in_db - ok),
        "status": query(
            CHECKIN_DB, "SELECT status FROM activities_activity WHERE id = %s", [activity]
        )[0][0],
    }


# --- goals and report -----------------------------------------------------------------


def goals(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for run in data["runs"]:
        name = run["variant"]["name"]
        b, t, v = run["burst"], run["trivial"], run["verify"]
        out += [
            {
                "goal": f"{name}: ≥ {GOAL_RATE:,} check-ins/s sustained",
                "measured": f"{b['sustained_per_s']:,.0f} requests/s (whole burst with its "
                f"tail {b['per_s']:,.0f}/s, {b['created_per_s']:,.0f} new/s)",
                "met": b["sustained_per_s"] >= GOAL_RATE,
            },
            {
                "goal": f"{name}: ≥ {GOAL_SHARE:.0%} of the trivial view's throughput",
                "measured": f"{run['ratio_sustained']:.0%} ({b['sustained_per_s']:,.0f} / "
                f"{t['per_s']:,.0f}; whole burst {run['ratio']:.0%})",
                "met": (run["ratio_sustained"] or 0) >= GOAL_SHARE,
            },
            {
                "goal": f"{name}: p99 ≤ {GOAL_P99_MS:g} ms",
                "measured": f"{ms(b['latency']['p99_ms'])} ms",
                "met": b["latency"]["p99_ms"] <= GOAL_P99_MS,
            },
            {
                "goal": f"{name}: none lost, none duplicated, no errors",
                "measured": f"lost {v['lost']}, duplicated {v['duplicated']}, errors {b['errors']}",
                "met": v["lost"] == 0 and v["duplicated"] == 0 and b["errors"] == 0,
            },
        ]
    exact = data["analysis"]["exact"]
    out.append(
        {
            "goal": "figures exact after the fold (rebuild --check)",
            "measured": f"{exact['differences']} differences; root's 人次 "
            f"{exact['root_checkins']:,} = rows {exact['checkin_rows']:,}; "
            f"reached {exact['root_reached']:,} = "
            f"{exact['distinct_members']:,} members",
            "met": exact["ok"],
        }
    )
    return out


def report(data: dict[str, Any]) -> None:
    rows = []
    for run in data["runs"]:
        v = run["variant"]
        t, b = run["trivial"], run["burst"]
        for label, r in (("GET /healthz", t), ("POST check-in", b)):
            c = r["cpu"]
            rows.append(
                [
                    f"{'lean ' if v['lean'] else ''}{v['worker_class']} "
                    f"{v['workers']}×{v['threads']}: {label}",
                    f"{r['requests']:,}",
                    f"{r['per_s']:,.0f}",
                    ms(r["latency"]["p50_ms"]),
                    ms(r["latency"]["p99_ms"]),
                    r["errors"],
                    f"{c['server_cpu_s'] / c['wall_s']:.0%}",
                    f"{c['postgres_ours_cpu_s'] / c['wall_s']:.0%}",
                    f"{c['loader_cpu_s'] / c['wall_s']:.0%}",
                    f"{c['others_cpu_s'] / c['wall_s']:.0%}",
                    f"{c['machine_busy_share']:.0%}",
                ]
            )
    table(
        f"checkin: {data['options']['members']:,} members at once, "
        f"{data['options']['concurrency']} in flight (CPU: share of one core; machine: of all)",
        ["server: phase", "requests", "per s", "p50 ms", "p99 ms", "errors", "gunicorn",
         "postgres", "loader", "others", "machine"],
        rows,
    )  # fmt: skip
    rows = []
    for run in data["runs"]:
        b, v = run["burst"], run["verify"]
        rows.append(
            [
                run["variant"]["name"],
                f"{b['sustained_per_s']:,.0f} ({b['sustained_seconds']} s)",
                f"{run['ratio_sustained']:.0%}",
                f"{b['created_per_s']:,.0f}",
                f"{run['ratio']:.0%}",
                f"{b['retries']:,} ({b['concurrent_retries']:,} at once)",
                f"{v['answered_200']:,} / {v['members']:,}",
                v["lost"],
                v["duplicated"],
                dict(b["statuses"]),
            ]
        )
    table(
        "checkin: the burst, verified in the database",
        [
            "server",
            "sustained/s",
            "÷ trivial",
            "new/s",
            "whole ÷ trivial",
            "retries",
            "members 200",
            "lost",
            "dup",
            "statuses",
        ],
        rows,
    )
    a = data["analysis"]
    q = a["queries"]
    print(
        f"  queries per check-in (API, in one process): first {q['first_code']} (code), "
        f"{q['first_token']} (QR token), retry {q['retry']}; GET /healthz {q['healthz']}"
    )
    split = a["time_split"]
    cores = os.cpu_count() or 1
    cpu = split["app_cpu_ms"] + split["postgres_cpu_ms"]
    h = split["healthz"]
    h_cpu = h["app_cpu_ms"] + h["postgres_cpu_ms"]
    print(
        f"  one check-in in one process: {split['per_checkin_ms']} ms wall, of which in "
        f"PostgreSQL round trips {split['db_ms']} ms ({split['db_share']:.0%}, commit "
        f"{split['commit_ms']} ms); CPU: app {split['app_cpu_ms']} ms + PostgreSQL "
        f"{split['postgres_cpu_ms']} ms = at most {cores * 1000 / cpu:,.0f}/s on {cores} cores"
    )
    print(
        f"  GET /healthz in one process (Django test client, no HTTP): CPU app "
        f"{h['app_cpu_ms']} ms + PostgreSQL {h['postgres_cpu_ms']} ms = at most "
        f"{cores * 1000 / h_cpu:,.0f}/s; check-in ÷ healthz CPU: {cpu / h_cpu:.1f}×"
    )
    lean = a["lean"]
    lean_cpu = lean["app_cpu_ms"] + lean["postgres_cpu_ms"]
    print(
        f"  the proposal (bench/checkin_lean.py) in one process: {lean['queries_first']} "
        f"statements (retry {lean['queries_retry']}), {lean['per_checkin_ms']} ms wall; CPU: "
        f"app {lean['app_cpu_ms']} ms + PostgreSQL {lean['postgres_cpu_ms']} ms = at most "
        f"{cores * 1000 / lean_cpu:,.0f}/s; {cpu / lean_cpu:.1f}× less than now"
    )
    e = a["exact"]
    print(
        f"  fold: {e['folded']:,} pending changes in {e['fold_s']} s; rebuild --check: "
        f"{e['differences']} differences ({e['rebuild_s']} s)"
    )
    table(
        "checkin: goals",
        ["goal", "measured", "met"],
        [[g["goal"], g["measured"], g["met"]] for g in data["goals"]],
        left=2,
    )


# --- child: setup (Django in-process) -------------------------------------------------


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url  # importing common pointed it at the bench database
    import django

    django.setup()


def setup_main(opts: argparse.Namespace) -> None:
    import datetime

    django_setup(opts.database_url)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from gonghui.accounts.models import ApiToken, hash_token
    from gonghui.activities import services
    from gonghui.activities.models import ActivityKind
    from gonghui.orgs import services as org_services
    from gonghui.orgs.bulk import insert_rows
    from gonghui.orgs.demo import GIVEN, SURNAMES, first_grassroots_in, synthetic_id_number
    from gonghui.orgs.identity import (
        encrypt_id_number,
        id_number_hash,
        mask_id_number,
    )
    from gonghui.orgs.importing import name_keys
    from gonghui.orgs.models import Member, MemberEvent, MemberEventKind, MemberSource, RoleKind
    from gonghui.orgs.scoping import SYSTEM
    from gonghui.stats import services as stats

    rng = random.Random(2026)
    User = get_user_model()
    demo_union = first_grassroots_in("5101")
    township = demo_union.parent
    county_code = township.code[:6]
    unusable = make_password(None)
    now = timezone.now()
    cadre = User.objects.create(username="bench_cadre", password=unusable)
    cadre_token = ApiToken.new_raw_token()
    ApiToken.objects.create(user=cadre, key_hash=hash_token(cadre_token), prefix=cadre_token[:8])
    cohorts = []
    serial = 1_000_000  # far above the demo's serials in this county
    # One union per server variant and one for the in-process analysis.
    for n in range(opts.cohorts + 1):
        size = opts.members if n < opts.cohorts else 720
        with transaction.atomic():
            union = org_services.create_org(
                actor=SYSTEM,
                parent=township,
                name=f"成都压测机械有限公司第{n + 1}工会委员会",
                code=f"{township.code}9{n:02d}",
                kind="grassroots",
                industry="manufacturing",
            )
            org_services.grant_role(actor=SYSTEM, user=cadre, org=union, kind=RoleKind.ADMIN)
            users = User.objects.bulk_create(
                [
                    User(username=f"bench{n}_{i}", password=unusable, first_name="职工")
                    for i in range(size)
                ]
            )
            rows = []
            for user in users:
                id_number = synthetic_id_number(county_code, serial)
                serial += 1
                name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
                full, initials = name_keys(name)
                rows.append(
                    dict(
                        unit_id=union.pk,
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
            insert_rows(Member, rows, batch_size=2000)
            with connection.cursor() as cursor:  # the join facts behind the member figures
                cursor.execute(
                    f'INSERT INTO "{MemberEvent._meta.db_table}" (member_id, unit_id, kind, day) '
                    f'SELECT id, unit_id, %s, joined_on FROM "{Member._meta.db_table}" '
                    "WHERE unit_id = %s",
                    [MemberEventKind.JOINED, union.pk],
                )
            tokens = {}
            api_tokens = []
            for user in users:
                raw = ApiToken.new_raw_token()
                tokens[user.pk] = raw
                api_tokens.append(ApiToken(user=user, key_hash=hash_token(raw), prefix=raw[:8]))
            ApiToken.objects.bulk_create(api_tokens, batch_size=2000)
            activity = services.schedule_activity(
                SYSTEM,
                org=union,
                data=services.ActivityInput(
                    kind=ActivityKind.LECTURE,
                    title=f"全员安全生产宣讲（压测 {n + 1}）",
                    starts_at=now - datetime.timedelta(minutes=5),
                    ends_at=now + datetime.timedelta(hours=6),
                ),
            )
        members = list(Member.objects.filter(unit=union).values_list("pk", "user_id"))
        cohorts.append(
            {
                "activity_id": activity.pk,
                "code": activity.check_in_code,
                "union_id": union.pk,
                "members": [[pk, tokens[user_id]] for pk, user_id in members],
            }
        )
    # The figures of everything written so far, as the demo ends: exact before the burst.
    stats.rebuild(check=False)
    data = {
        "union_name": "成都压测机械有限公司工会委员会",
        "township": township.name,
        "cadre_token": cadre_token,
        "cohorts": cohorts[: opts.cohorts],
        "analysis_cohort": cohorts[-1],
    }
    Path(opts.out).write_text(json.dumps(data, ensure_ascii=False))


# --- child: the load generator (asyncio, raw HTTP/1.1, no Django) ---------------------


class Http:
    """One client connection slot: HTTP/1.1 with keep-alive when the server keeps it
    (gthread); a new connection per request when it closes (the sync worker)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        raw = head.encode() + b"\r\n" + body
        for attempt in (1, 2):
            reused = self.writer is not None
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                assert self.reader is not None and self.writer is not None
                self.writer.write(raw)
                await self.writer.drain()
                status_line = await self.reader.readuntil(b"\r\n")
                if not status_line:
                    raise ConnectionResetError("closed")
                length, close = None, False
                while True:
                    line = await self.reader.readuntil(b"\r\n")
                    if line == b"\r\n":
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                if length is not None:
                    payload = await self.reader.readexactly(length)
                else:
                    payload = await self.reader.read()
                    close = True
                if close:
                    await self.close()
                return int(status_line.split()[1]), payload
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if reused and attempt == 1:
                    continue  # the server closed an idle kept-alive connection: reconnect
                raise
        raise ConnectionError("unreachable")


def latency_summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
    }


async def trivial_load(opts: argparse.Namespace) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    deadline = time.perf_counter() + opts.seconds

    async def slot() -> None:
        http = Http(opts.port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                status, _body = await http.request("GET", "/healthz")
            except Exception as exc:
                errors.append(repr(exc))
                await http.close()
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
        await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(slot() for _ in range(opts.concurrency)))
    seconds = time.perf_counter() - started
    ok = statuses.get(200, 0)
    return {
        "requests": sum(statuses.values()),
        "seconds": round(seconds, 2),
        "per_s": round(ok / seconds, 1),
        "latency": latency_summary(latencies),
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": len(errors) + sum(v for k, v in statuses.items() if k != 200),
        "error_samples": errors[:5],
    }


async def burst_load(opts: argparse.Namespace) -> dict[str, Any]:
    cohort = json.loads(Path(opts.cohort).read_text())
    activity_id, code = cohort["activity_id"], cohort["code"]
    path = f"{opts.path}{activity_id}/check-in"
    rng = random.Random(7)
    # The venue's screen: a cadre's client fetches the QR token, again every 20 s.
    screen = Http(opts.port)
    qr: dict[str, str] = {}

    async def fetch_qr() -> None:
        status, body = await screen.request(
            "GET",
            f"/api/activities/{activity_id}/qr",
            headers={"Authorization": f"Bearer {opts.cadre_token}"},
        )
        if status != 200:
            raise SystemExit(f"GET …/qr answered {status}: {body[:200]!r}")
        qr["token"] = json.loads(body)["token"]

    await fetch_qr()

    async def refresh_qr() -> None:
        while True:
            await asyncio.sleep(20)
            await fetch_qr()

    refresher = asyncio.create_task(refresh_qr())
    members = list(cohort["members"])
    rng.shuffle(members)
    uses_qr = {m for m, _t in members if rng.random() < opts.qr_share}
    queue: asyncio.Queue[tuple[int, str, str] | None] = asyncio.Queue()
    later: dict[int, int] = {}  # retries sent after the answer came
    retries = concurrent = 0
    for member, token in members:
        extra = rng.randint(1, 3)
        retries += extra
        at_once = sum(1 for _ in range(extra) if rng.random() < 0.4)
        concurrent += at_once
        later[member] = extra - at_once
        for n in range(1 + at_once):
            queue.put_nowait((member, token, "first" if n == 0 else "double"))
    outstanding = len(members) + retries
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    errors: list[str] = []
    ok_members: set[int] = set()
    created_members: list[int] = []
    done_at: list[float] = []
    # When a slot first found nothing to send: from then on fewer than `concurrency`
    # requests are in flight (the last retries trickle in, up to 0.5 s after their
    # answers), so the server is no longer offered all it can take.
    drained_at: list[float] = []
    ok_done_at: list[float] = []  # the same, of the 200 answers
    started = time.perf_counter()
    finished = asyncio.Event()

    def complete() -> None:
        nonlocal outstanding
        outstanding -= 1
        if outstanding == 0:
            finished.set()

    def retry_later(member: int, token: str) -> None:
        if later.get(member):
            later[member] -= 1
            delay = rng.uniform(0.0, 0.5)
            asyncio.get_running_loop().call_later(delay, queue.put_nowait, (member, token, "retry"))

    async def slot() -> None:
        http = Http(opts.port)
        while True:
            if queue.empty() and not drained_at:
                drained_at.append(time.perf_counter() - started)
            job = await queue.get()
            if job is None:
                break
            member, token, _kind = job
            body = (
                {"token": qr["token"]} if member in uses_qr else {"code": code}
            )  # the same choice on every retry: one phone, one way
            t0 = time.perf_counter()
            try:
                status, payload = await http.request(
                    "POST",
                    path,
                    json.dumps(body).encode(),
                    {"Authorization": f"Bearer {token}"},
                )
            except Exception as exc:
                errors.append(repr(exc))
                await http.close()
                retry_later(member, token)
                complete()
                continue
            t1 = time.perf_counter()
            latencies.append((t1 - t0) * 1000)
            done_at.append(t1 - started)
            statuses[status] += 1
            if status == 200:
                ok_done_at.append(t1 - started)
                answer = json.loads(payload)
                ok_members.add(member)
                if answer.get("created"):
                    created_members.append(member)
            else:
                with contextlib.suppress(Exception):
                    codes[json.loads(payload).get("code", "?")] += 1
                if len(errors) < 20:
                    errors.append(f"{status}: {payload[:200]!r}")
            retry_later(member, token)
            complete()
        await http.close()

    slots = [asyncio.create_task(slot()) for _ in range(opts.concurrency)]
    await finished.wait()
    seconds = time.perf_counter() - started
    for _ in slots:
        queue.put_nowait(None)
    await asyncio.gather(*slots)
    refresher.cancel()
    await screen.close()
    per_second = Counter(int(t) for t in done_at)
    whole = [per_second[s] for s in range(int(seconds))] if seconds >= 1 else []
    requests = sum(statuses.values())
    saturated = drained_at[0] if drained_at else seconds
    ok_saturated = sum(1 for t in ok_done_at if t <= saturated)
    return {
        "requests": requests,
        "members": len(members),
        "retries": retries,
        "concurrent_retries": concurrent,
        "seconds": round(seconds, 2),
        "per_s": round(statuses.get(200, 0) / seconds, 1),
        "created_per_s": round(len(created_members) / seconds, 1),
        "per_second_median": statistics.median(whole) if whole else None,
        # Sustained: while every slot had a request to send (the first taps, the double
        # taps and the retries mixed as they came), before the tail.
        "sustained_seconds": round(saturated, 2),
        "sustained_requests": sum(1 for t in done_at if t <= saturated),
        "sustained_per_s": round(ok_saturated / saturated, 1) if saturated else None,
        "per_second_max": max(whole) if whole else None,
        "latency": latency_summary(latencies),
        "statuses": {str(k): v for k, v in statuses.items()},
        "refusal_codes": dict(codes),
        "errors": len(errors) + sum(v for k, v in statuses.items() if k != 200),
        "error_samples": errors[:5],
        "ok_members": sorted(ok_members),
        "created_members": created_members,
    }


def load_main(opts: argparse.Namespace) -> None:
    runner = trivial_load if opts.mode == "trivial" else burst_load
    result = asyncio.run(runner(opts))
    Path(opts.out).write_text(json.dumps(result))


# --- child: the cost of one check-in, taken apart (Django in-process) -----------------


def wsgi_post(
    application: Any, path: str, token: str, body: Any, *, method: str = "POST", query: str = ""
) -> tuple[int, bytes]:
    """POST `body` (JSON; None: no body) with a bearer token to a WSGI application in this
    process, as a server calls it: (status, content). `method="GET"` with `query`: a GET."""
    raw = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(raw)),
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(raw),
    }
    status: list[str] = []
    out = b"".join(application(environ, lambda s, h: status.append(s)))
    return int(status[0].split()[0]), out


def analyse_main(opts: argparse.Namespace) -> None:
    django_setup(opts.database_url)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from gonghui.activities.models import Activity, CheckIn
    from gonghui.activities.services import qr_token
    from gonghui.stats import services as stats
    from gonghui.stats.models import SubtreeCount

    setup = json.loads(Path(opts.setup).read_text())
    cohort = setup["analysis_cohort"]
    activity = Activity.objects.get(pk=cohort["activity_id"])
    members = cohort["members"]
    client = Client()
    url = f"/api/activities/{activity.pk}/check-in"

    from gonghui.wsgi import application

    def post(token: str, body: dict[str, Any]) -> Any:
        # The production WSGI application, as gunicorn calls it (the API's fast lane).
        code, out = wsgi_post(application, url, token, body)
        assert code == 200, out[:300]
        return json.loads(out)

    # Warm up: the first check-in makes the activity held; imports, URL resolver.
    post(members[0][1], {"code": activity.check_in_code})
    client.get("/healthz")

    def statements(ctx: CaptureQueriesContext) -> list[str]:
        return [" ".join(q["sql"].split())[:110] for q in ctx.captured_queries]

    with CaptureQueriesContext(connection) as first:
        assert post(members[1][1], {"code": activity.check_in_code})["created"]
    with CaptureQueriesContext(connection) as retry:
        assert not post(members[1][1], {"code": activity.check_in_code})["created"]
    with CaptureQueriesContext(connection) as by_token:
        assert post(members[2][1], {"token": qr_token(activity)})["created"]
    with CaptureQueriesContext(connection) as healthz:
        client.get("/healthz")
    queries = {
        "first_code": len(first.captured_queries),
        "retry": len(retry.captured_queries),
        "first_token": len(by_token.captured_queries),
        "healthz": len(healthz.captured_queries),
        "commits_first": sum(
            1 for q in first.captured_queries if q["sql"].upper().startswith(("COMMIT", "RELEASE"))
        ),
        "first_statements": statements(first),
        "retry_statements": statements(retry),
    }

    # Time split over many first check-ins: time inside cursor.execute (the round trip
    # to PostgreSQL, its work, and for COMMIT or an autocommitted write the WAL flush)
    # per kind of statement, against everything else (Python).
    by_kind: Counter[str] = Counter()
    calls: Counter[str] = Counter()

    def timed_execute(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            words = sql.lstrip().split(None, 3)
            kind = words[0].upper() if words else "?"
            if kind in ("INSERT", "UPDATE", "DELETE") and len(words) > 2:
                kind = f"{kind} {words[2] if kind == 'INSERT' else words[1]}".replace('"', "")
            elif kind == "SELECT":
                table_at = sql.find(" FROM ")
                kind = "SELECT " + (
                    sql[table_at + 6 :].split(None, 1)[0].replace('"', "") if table_at > 0 else ""
                )
            if not connection.in_atomic_block and kind.split()[0] in ("INSERT", "UPDATE"):
                kind += " (autocommit)"
            by_kind[kind] += time.perf_counter() - t0
            calls[kind] += 1

    batch = members[4 : 4 + 300]
    # The transaction's BEGIN and COMMIT go through the connection, not cursor.execute.
    commit_time = [0.0]
    real_commit = connection.connection.commit if connection.connection else None

    def timed_commit_factory(conn: Any) -> Any:
        original = conn.commit

        def timed_commit() -> None:
            t0 = time.perf_counter()
            try:
                original()
            finally:
                commit_time[0] += time.perf_counter() - t0

        return timed_commit

    connection.ensure_connection()
    connection.connection.commit = timed_commit_factory(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    # CPU time, not wall time: what a check-in costs whatever else runs on the machine.
    pg_cpu0 = proc_cpu(backend_pid)
    with connection.execute_wrapper(timed_execute):
        t0, c0 = time.perf_counter(), time.process_time()
        for _pk, token in batch:
            post(token, {"code": activity.check_in_code})
        wall, app_cpu = time.perf_counter() - t0, time.process_time() - c0
    pg_cpu = proc_cpu(backend_pid) - pg_cpu0
    if real_commit is not None:
        connection.connection.commit = real_commit
    # The same for the trivial view.
    pg_cpu0 = proc_cpu(backend_pid)
    c0 = time.process_time()
    for _ in range(1000):
        client.get("/healthz")
    healthz_cpu = {
        "app_cpu_ms": round((time.process_time() - c0), 3),  # per request: / 1000 * 1000
        "postgres_cpu_ms": round(proc_cpu(backend_pid) - pg_cpu0, 3),
    }
    n = len(batch)
    per = wall / n * 1000
    db = (sum(by_kind.values()) + commit_time[0]) / n * 1000
    split = {
        "checkins": n,
        "app_cpu_ms": round(app_cpu / n * 1000, 2),
        "postgres_cpu_ms": round(pg_cpu / n * 1000, 2),
        "per_checkin_ms": round(per, 2),
        "db_ms": round(db, 2),
        "python_ms": round(per - db, 2),
        "db_share": round(db / per, 3),
        "db_calls_per_checkin": round(sum(calls.values()) / n, 1),
        "commit_ms": round(commit_time[0] / n * 1000, 3),
        "by_statement_ms": {
            k: round(v / n * 1000, 3) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])
        },
        "statements_per_checkin": {k: round(v / n, 2) for k, v in calls.items()},
        "healthz": healthz_cpu,
    }
    # Where the Python time goes (cProfile of 100 more, cumulative, our code and Django).
    import cProfile
    import pstats

    profile = cProfile.Profile()
    more = members[304 : 304 + 100]
    profile.enable()
    for _pk, token in more:
        post(token, {"code": activity.check_in_code})
    profile.disable()
    stats_out = pstats.Stats(profile)
    raw_stats = stats_out.stats  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in raw_stats.values())
    # Own time (tottime) by library: where the interpreter actually spends it.
    libraries: Counter[str] = Counter()
    for (filename, _line, name), (_cc, _nc, tt, _ct, _callers) in raw_stats.items():
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
    by_library = {k: round(v / total_tt, 3) for k, v in libraries.most_common()}
    hot = []
    for (filename, line, name), (_cc, _nc, _tt, ct, _callers) in raw_stats.items():
        if "/gonghui/" in filename or name in ("execute", "_execute"):
            hot.append((ct, f"{Path(filename).parent.name}/{Path(filename).name}:{line}({name})"))
    hot.sort(reverse=True)
    profile_top = [
        {"where": where, "ms_per_checkin": round(ct / len(more) * 1000, 2)}
        for ct, where in hot[:25]
    ]

    # The proposal (bench/checkin_lean.py) on the same machine, in process: statements
    # and CPU per check-in.
    import checkin_lean

    def lean_post(token: str) -> dict[str, Any]:
        code, out = wsgi_post(
            checkin_lean.application,
            f"{checkin_lean.PREFIX}{activity.pk}/check-in",
            token,
            {"code": activity.check_in_code},
        )
        assert code == 200, out[:300]
        return json.loads(out)

    lean_batch = members[404 : 404 + 300]
    lean_post(lean_batch[0][1])
    with CaptureQueriesContext(connection) as lean_first:
        assert lean_post(lean_batch[1][1])["created"]
    with CaptureQueriesContext(connection) as lean_retry:
        assert not lean_post(lean_batch[1][1])["created"]
    pg_cpu0 = proc_cpu(backend_pid)
    t0, c0 = time.perf_counter(), time.process_time()
    for _pk, token in lean_batch[2:]:
        assert lean_post(token)["created"]
    n_lean = len(lean_batch) - 2
    lean = {
        "queries_first": len(lean_first.captured_queries),
        "queries_retry": len(lean_retry.captured_queries),
        "statements": statements(lean_first),
        "per_checkin_ms": round((time.perf_counter() - t0) / n_lean * 1000, 2),
        "app_cpu_ms": round((time.process_time() - c0) / n_lean * 1000, 2),
        "postgres_cpu_ms": round((proc_cpu(backend_pid) - pg_cpu0) / n_lean * 1000, 2),
    }

    # The fold, then the figures against the facts.
    t0 = time.perf_counter()
    folded = stats.fold_pending()
    fold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    differences = stats.rebuild(check=True)
    rebuild_s = time.perf_counter() - t0
    root = SubtreeCount.objects.filter(org__parent__isnull=True)
    root_checkins = root.filter(metric="activities.checkins").values_list("value", flat=True)
    root_reached = root.filter(metric="activities.reached@all").values_list("value", flat=True)
    counted = CheckIn.objects.filter(activity__status__in=["planned", "held"])
    exact = {
        "folded": folded,
        "fold_s": round(fold_s, 2),
        "fold_per_s": round(folded / fold_s) if fold_s else None,
        "differences": len(differences),
        "difference_samples": [str(d) for d in differences[:5]],
        "rebuild_s": round(rebuild_s, 2),
        "root_checkins": next(iter(root_checkins), 0),
        "checkin_rows": counted.count(),
        "root_reached": next(iter(root_reached), 0),
        "distinct_members": counted.values("member_id").distinct().count(),
    }
    exact["ok"] = (
        not differences
        and exact["root_checkins"] == exact["checkin_rows"]
        and exact["root_reached"] == exact["distinct_members"]
    )
    total_ms = round(total_tt * 1000 / len(more), 2)
    data = {
        "queries": queries,
        "time_split": split,
        "profile_top": profile_top,
        "profile_by_library": by_library,
        "lean": lean,
        "profile_total_ms": total_ms,
        "exact": exact,
    }
    Path(opts.out).write_text(json.dumps(data, ensure_ascii=False))


# --- entry point of the child processes -------------------------------------------------


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    setup = sub.add_parser("setup")
    setup.add_argument("--members", type=int, required=True)
    setup.add_argument("--cohorts", type=int, required=True)
    setup.add_argument("--database-url", required=True)
    setup.add_argument("--out", required=True)
    load = sub.add_parser("load")
    load.add_argument("--mode", choices=("trivial", "burst"), required=True)
    load.add_argument("--port", type=int, required=True)
    load.add_argument("--concurrency", type=int, required=True)
    load.add_argument("--seconds", type=float, default=5)
    load.add_argument("--cohort")
    load.add_argument("--cadre-token")
    load.add_argument("--qr-share", type=float, default=0.5)
    load.add_argument("--path", default="/api/activities/")
    load.add_argument("--out", required=True)
    analyse = sub.add_parser("analyse")
    analyse.add_argument("--setup", required=True)
    analyse.add_argument("--database-url", required=True)
    analyse.add_argument("--out", required=True)
    opts = parser.parse_args(argv)
    {"setup": setup_main, "load": load_main, "analyse": analyse_main}[opts.what](opts)


if __name__ == "__main__":
    main(sys.argv[1:])
